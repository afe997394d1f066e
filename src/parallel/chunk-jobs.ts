/**
 * The per-chunk work that runs off the main thread, as plain functions of
 * plain messages, so the same code runs in a worker or, with no workers,
 * in-process.
 */
import { compressChunk } from '../backup/compress.js';
import type { CompressionChoice } from '../backup/compress.js';
import { payloadPlaintext } from '../restore/payload.js';
import { sealDataChunk } from '../backup/seal-chunk.js';
import type { ChunkToSeal } from '../backup/seal-chunk.js';

/** A volume's data chunk to compress, pad and seal into its whole frame (backup/seal-chunk.ts). */
export interface SealJob extends ChunkToSeal {
  op: 'seal';
}

export type ChunkJob =
  | { op: 'compress'; choice: CompressionChoice; data: Uint8Array }
  | { op: 'decode'; codec: number; data: Uint8Array; chunkSize: number }
  | SealJob;

export type ChunkResult = { codec: number; bytes: Uint8Array } | { plain: Uint8Array | null } | { frame: Uint8Array };

export function runChunkJob(job: ChunkJob): ChunkResult {
  if (job.op === 'seal') return { frame: sealDataChunk(job) };
  if (job.op === 'compress') {
    const c = compressChunk(asBuffer(job.data), job.choice);
    return { codec: c.codec, bytes: c.bytes };
  }
  return { plain: payloadPlaintext(job.codec, asBuffer(job.data), job.chunkSize) ?? null };
}

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A view that owns its whole ArrayBuffer, so the buffer can be transferred without detaching anything else. */
export function owned(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.byteLength > 4096) return b;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
}
