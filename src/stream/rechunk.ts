/**
 * Re-slices a byte stream into pieces of exactly `size` bytes (the last may
 * be shorter). Chunk boundaries therefore depend only on the stream's length,
 * never on where one file ends and the next begins.
 */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of source) {
    let buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (held + buf.length >= size) {
      const take = size - held;
      parts.push(buf.subarray(0, take));
      // Sliced before the chunk is handed on: a consumer may transfer its memory to a worker, detaching `buf`.
      const rest = buf.subarray(take);
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      held = 0;
      buf = rest;
    }
    if (buf.length) {
      parts.push(buf);
      held += buf.length;
    }
  }
  if (held) yield Buffer.concat(parts, held);
}
