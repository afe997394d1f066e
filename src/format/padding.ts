/**
 * --pad: every chunk is stored at one length, so a volume's chunk lengths say
 * nothing about how compressible each part of the archive was. A padded
 * payload sets the codec byte's high bit and holds the inner length (u32 BE),
 * the inner bytes, and zeros up to 4 + chunk size bytes. Pure codec, no I/O.
 */
import { u32 } from './bytes.js';

export const PADDED = 0x80;
const LENGTH_BYTES = 4;

export interface Payload {
  codec: number;
  bytes: Buffer;
}

export function padPayload(p: Payload, chunkSize: number): Payload {
  if (p.bytes.length > chunkSize) throw new Error(`cannot pad ${p.bytes.length} bytes into a ${chunkSize}-byte chunk`);
  const out = Buffer.alloc(LENGTH_BYTES + chunkSize);
  u32(p.bytes.length).copy(out, 0);
  p.bytes.copy(out, LENGTH_BYTES);
  return { codec: p.codec | PADDED, bytes: out };
}

/** The inner payload, or undefined when the padding is malformed (wrong length, non-zero fill). */
export function unpadPayload(p: Payload, chunkSize: number): Payload | undefined {
  if (!(p.codec & PADDED)) return p;
  if (p.bytes.length !== LENGTH_BYTES + chunkSize) return undefined;
  const length = p.bytes.readUInt32BE(0);
  if (length > chunkSize) return undefined;
  const fill = p.bytes.subarray(LENGTH_BYTES + length);
  for (let i = 0; i < fill.length; i++) if (fill[i] !== 0) return undefined;
  return { codec: p.codec & ~PADDED, bytes: p.bytes.subarray(LENGTH_BYTES, LENGTH_BYTES + length) };
}
