/**
 * Per-chunk compression. Each chunk is compressed on its own (so any chunk
 * can be read without its neighbours) and stored uncompressed when that is
 * not smaller. zlib runs on libuv's thread pool, so several chunks compress
 * at once without blocking the main thread. Pure functions of their input,
 * ready to move to worker threads.
 */
import { deflateRaw, inflateRaw } from 'node:zlib';
import { promisify } from 'node:util';
import { Codec } from '../format/chunk.js';

const deflateRawAsync = promisify(deflateRaw);
const inflateRawAsync = promisify(inflateRaw);

export interface CompressedChunk {
  codec: Codec;
  bytes: Buffer;
  /** Plaintext length before compression. */
  plainLength: number;
}

export type CompressionChoice = 'deflate' | 'none';

export async function compressChunk(data: Buffer, choice: CompressionChoice): Promise<CompressedChunk> {
  if (choice === 'none') return { codec: Codec.none, bytes: data, plainLength: data.length };
  const packed = await deflateRawAsync(data, { level: 1 });
  return packed.length < data.length
    ? { codec: Codec.deflate, bytes: packed, plainLength: data.length }
    : { codec: Codec.none, bytes: data, plainLength: data.length };
}

/**
 * Returns undefined for an unknown codec, output beyond `maxLength` (a
 * decompression bomb), or bytes that are not exactly one whole deflate stream.
 */
export async function decompressChunk(codec: number, bytes: Buffer, maxLength: number): Promise<Buffer | undefined> {
  if (codec === Codec.none) return bytes.length <= maxLength ? bytes : undefined;
  if (codec !== Codec.deflate) return undefined;
  try {
    // The default finish flush fails a stream cut short; `info` tells how much input the stream used.
    const r = (await inflateRawAsync(bytes, { maxOutputLength: maxLength, info: true })) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    return r.engine.bytesWritten === bytes.length ? r.buffer : undefined;
  } catch {
    return undefined;
  }
}
