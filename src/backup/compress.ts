/**
 * Per-chunk compression. Each chunk is compressed on its own (so any chunk
 * can be read without its neighbours) and stored uncompressed when that is
 * not smaller. Pure, synchronous functions of their input: the worker pool
 * (src/parallel) runs them off the main thread.
 *
 * zstd level 1 is the default: measured here on 1 MiB chunks it compresses
 * text at about 390 MB/s (ratio 4.1) against deflate level 1's 166 MB/s
 * (ratio 3.8), and passes random data at 2.5 GB/s against deflate's 64 MB/s
 * (docs/PERFORMANCE.md). deflate stays readable and selectable.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Codec } from '../format/chunk.js';
import { zstdCanCompress, zstdCompressBound, zstdCompressInto, zstdDecompress } from '../compress/zstd.js';

export interface CompressedChunk {
  codec: Codec;
  bytes: Buffer;
}

export const COMPRESSION_CHOICES = ['zstd', 'deflate', 'none'] as const;
export type CompressionChoice = (typeof COMPRESSION_CHOICES)[number];

const ZSTD_LEVEL = 1;

/** zstd, unless its native module could not load on this machine. */
export function defaultCompression(): CompressionChoice {
  return zstdCanCompress ? 'zstd' : 'deflate';
}

export function compressChunk(data: Buffer, choice: CompressionChoice): CompressedChunk {
  if (choice === 'none') return { codec: Codec.none, bytes: data };
  const out = Buffer.allocUnsafe(compressRoom(data.length, choice));
  const { codec, length } = compressChunkInto(data, choice, out);
  return { codec, bytes: out.subarray(0, length) };
}

/** Room compressChunkInto needs for a chunk of `length` bytes. */
export function compressRoom(length: number, choice: CompressionChoice): number {
  return choice === 'zstd' ? Math.max(length, zstdCompressBound(length)) : length;
}

/**
 * compressChunk's choice of codec and bytes, written into `dst` (at least
 * compressRoom bytes) instead of a new buffer; returns the codec and length.
 */
export function compressChunkInto(data: Buffer, choice: CompressionChoice, dst: Buffer): { codec: Codec; length: number } {
  if (choice === 'zstd') {
    const length = zstdCompressInto(dst, data, ZSTD_LEVEL);
    if (length < data.length) return { codec: Codec.zstd, length };
  } else if (choice === 'deflate') {
    const packed = deflateRawSync(data, { level: 1 });
    if (packed.length < data.length) return { codec: Codec.deflate, length: packed.copy(dst) };
  }
  return { codec: Codec.none, length: data.copy(dst) };
}

/** Bytes looked at, from the start; fewer than the minimum say too little. */
const SAMPLE = 256;
const MIN_SAMPLE = 64;

/**
 * For n bytes looked at, the distinct values above which they look random:
 * three quarters of what n random bytes show on average, 256(1 - (255/256)^n)
 * (about 162 of 256). Text shows a few dozen, and so do most binaries with
 * their runs of zeros.
 */
const RANDOM_LOOKING = Array.from({ length: SAMPLE + 1 }, (_, n) => 0.75 * 256 * (1 - (255 / 256) ** n));

const seen = new Uint8Array(256);

/**
 * Whether bytes look like they will not compress (random, encrypted or
 * already compressed), from how many distinct byte values their first 256
 * bytes use. Cheap enough to ask of every small file; a wrong guess costs a
 * little ratio, nothing else.
 */
export function looksIncompressible(b: Uint8Array): boolean {
  const n = Math.min(SAMPLE, b.length);
  if (n < MIN_SAMPLE) return false;
  seen.fill(0);
  let distinct = 0;
  // Without a branch: on random bytes one per byte mispredicts, and doubled the cost (0.65 us a call against 0.3).
  for (let i = 0; i < n; i++) {
    const v = b[i]!;
    distinct += seen[v]! ^ 1;
    seen[v] = 1;
  }
  return distinct > RANDOM_LOOKING[n]!;
}

/**
 * Returns undefined for an unknown codec, output beyond `maxLength` (a
 * decompression bomb), or bytes that are not exactly one whole stream.
 * zstd output goes into `into` when it has room; stored data is returned
 * as the view it is.
 */
export function decompressChunk(codec: number, bytes: Buffer, maxLength: number, into?: Buffer): Buffer | undefined {
  if (codec === Codec.none) return bytes.length <= maxLength ? bytes : undefined;
  if (codec === Codec.zstd) return zstdDecompress(bytes, maxLength, into);
  if (codec !== Codec.deflate) return undefined;
  try {
    // The default finish flush fails a stream cut short; `info` tells how much input the stream used.
    const r = inflateRawSync(bytes, { maxOutputLength: maxLength, info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    return r.engine.bytesWritten === bytes.length ? r.buffer : undefined;
  } catch {
    return undefined;
  }
}
