/**
 * Padding hides how well each chunk compressed. Every data chunk is padded up
 * to a whole number of steps: by default a step is 1/16 of the chunk size,
 * so a chunk's sealed length is one of 16 values, and a chunk that compresses
 * by less than a step (random data, even with the tar headers of the files
 * that start in it) seals to exactly the length of a stored one: where
 * incompressible files begin and end does not show. With --pad the step is
 * the whole chunk size and every chunk seals to one length.
 *
 * A padded payload sets the codec byte's high bit and holds the inner length
 * (u32 BE), the inner bytes, and zeros after them. Pure codec, no I/O.
 */
import { u32 } from './bytes.js';

export const PADDED = 0x80;
const LENGTH_BYTES = 4;
export const DEFAULT_PAD_STEPS = 16;

export interface Payload {
  codec: number;
  bytes: Buffer;
}

/** The padding step for a chunk size: the whole chunk with --pad, else 1/16 of it. */
export function padStep(chunkSize: number, full: boolean): number {
  return full ? chunkSize : Math.ceil(chunkSize / DEFAULT_PAD_STEPS);
}

export function padPayload(p: Payload, chunkSize: number, step: number): Payload {
  if (p.bytes.length > chunkSize) throw new Error(`cannot pad ${p.bytes.length} bytes into a ${chunkSize}-byte chunk`);
  const area = Math.min(chunkSize, Math.max(step, Math.ceil(p.bytes.length / step) * step));
  const out = Buffer.alloc(LENGTH_BYTES + area);
  u32(p.bytes.length).copy(out, 0);
  p.bytes.copy(out, LENGTH_BYTES);
  return { codec: p.codec | PADDED, bytes: out };
}

/** The inner payload, or undefined when the padding is malformed (too long, length past the end, non-zero fill). */
export function unpadPayload(p: Payload, chunkSize: number): Payload | undefined {
  if (!(p.codec & PADDED)) return p;
  if (p.bytes.length < LENGTH_BYTES || p.bytes.length > LENGTH_BYTES + chunkSize) return undefined;
  const length = p.bytes.readUInt32BE(0);
  if (length > p.bytes.length - LENGTH_BYTES) return undefined;
  const fill = p.bytes.subarray(LENGTH_BYTES + length);
  for (let i = 0; i < fill.length; i++) if (fill[i] !== 0) return undefined;
  return { codec: p.codec & ~PADDED, bytes: p.bytes.subarray(LENGTH_BYTES, LENGTH_BYTES + length) };
}
