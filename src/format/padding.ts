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
export const PADDED = 0x80;
const LENGTH_BYTES = 4;
/** Where the data starts after the codec byte of a padded payload: after its length field. */
export const PAD_DATA_OFFSET = LENGTH_BYTES;
export const DEFAULT_PAD_STEPS = 16;

export interface Payload {
  codec: number;
  bytes: Buffer;
}

/** The padding step for a chunk size: the whole chunk with --pad, else 1/16 of it. */
export function padStep(chunkSize: number, full: boolean): number {
  return full ? chunkSize : Math.ceil(chunkSize / DEFAULT_PAD_STEPS);
}

/** Bytes after the codec byte once `length` bytes of data are padded: the length field, the data, the zero fill. */
export function paddedSize(length: number, chunkSize: number, step: number): number {
  if (length > chunkSize) throw new Error(`cannot pad ${length} bytes into a ${chunkSize}-byte chunk`);
  return LENGTH_BYTES + Math.min(chunkSize, Math.max(step, Math.ceil(length / step) * step));
}

/**
 * Pads where the data already lies, so a chunk sealed on a worker is never
 * copied to be padded: `area` starts at the length field, the data follows
 * it at PAD_DATA_OFFSET and the area has room for `paddedSize`. Returns the
 * padded size.
 */
export function padInPlace(area: Buffer, length: number, chunkSize: number, step: number): number {
  const size = paddedSize(length, chunkSize, step);
  area.writeUInt32BE(length, 0);
  area.fill(0, PAD_DATA_OFFSET + length, size);
  return size;
}

export function padPayload(p: Payload, chunkSize: number, step: number): Payload {
  const out = Buffer.allocUnsafe(paddedSize(p.bytes.length, chunkSize, step));
  p.bytes.copy(out, PAD_DATA_OFFSET);
  padInPlace(out, p.bytes.length, chunkSize, step);
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
