/**
 * A chunk's sealed payload -> its plaintext: undo the padding (--pad), then
 * the codec, never producing more than the chunk size. undefined means the
 * payload is malformed (bad padding, unknown codec, bad or oversized stream).
 */
import { decompressChunk } from '../backup/compress.js';
import { unpadPayload } from '../format/padding.js';

export function payloadPlaintext(codec: number, data: Buffer, chunkSize: number, into?: Buffer): Buffer | undefined {
  const inner = unpadPayload({ codec, bytes: data }, chunkSize);
  return inner && decompressChunk(inner.codec, inner.bytes, chunkSize, into);
}
