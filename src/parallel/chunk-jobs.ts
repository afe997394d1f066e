/**
 * The per-chunk work that runs off the main thread, as plain functions of
 * plain messages, so the same code runs in a worker or, with no workers,
 * in-process.
 */
import { nodeAead } from '../crypto/aead.js';
import { payloadPlaintext } from '../restore/payload.js';
import { sealDataChunk } from '../backup/seal-chunk.js';
import type { ChunkToSeal } from '../backup/seal-chunk.js';

/** A volume's data chunk to compress, pad and seal into its whole frame (backup/seal-chunk.ts). */
export interface SealJob extends ChunkToSeal {
  op: 'seal';
  /** Memory to build the frame in, if big enough (a frame already written, lent back). */
  into?: Uint8Array;
}

/**
 * A data frame to authenticate, decrypt, unpad and decompress; `data` is the
 * sealed body, decrypted where it lies. With `into`, the job owns all the
 * memory under `data` and `into`, and gives both back: one holds the
 * plaintext, the other comes back as `spare`.
 */
export interface DecodeJob {
  op: 'decode';
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
  data: Uint8Array;
  chunkSize: number;
  /** Memory to decompress into. */
  into?: Uint8Array;
}

export type ChunkJob = DecodeJob | SealJob;

/** Why a data frame yields no plaintext: it does not authenticate, or its payload is malformed. */
export type DecodeFailure = 'authentication' | 'payload';

/** A sealed frame comes with the chunk's data, `spent`, whose memory the caller may reuse; a plaintext with the memory it did not need. */
export type ChunkResult = { plain: Uint8Array; spare?: Uint8Array } | { failed: DecodeFailure } | { frame: Uint8Array; spent: Uint8Array };

export function runChunkJob(job: ChunkJob): ChunkResult {
  if (job.op === 'seal') return { frame: sealDataChunk(job, job.into), spent: job.data };
  return decodeFrame(job);
}

function decodeFrame(job: DecodeJob): ChunkResult {
  // The job's frame is this call's own (transferred, or read for it alone).
  const opened = nodeAead.openInPlace(job.key, job.nonce, job.data, job.aad);
  if (!opened || opened.length < 1) return { failed: 'authentication' };
  const plain = payloadPlaintext(opened[0]!, asBuffer(opened).subarray(1), job.chunkSize, job.into && asBuffer(job.into));
  if (!plain) return { failed: 'payload' };
  if (!job.into) return { plain };
  // Stored data is a view of the frame; anything else went into `into`, or (deflate) into memory of its own.
  return { plain, spare: plain.buffer === job.into.buffer ? job.data : job.into };
}

/** Whether the plaintext lies in memory the job was given whole, so it can be transferred without a copy. */
export function inJobMemory(job: DecodeJob, plain: Uint8Array): boolean {
  return job.into !== undefined && (plain.buffer === job.data.buffer || plain.buffer === job.into.buffer);
}

export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Whether `b` is all of an ArrayBuffer (not part of one, not shared memory): transferring or reusing it detaches or overwrites nothing else. */
export function isWhole(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
}

/** A view that owns its whole ArrayBuffer, so the buffer can be transferred without detaching anything else. */
export function owned(b: Uint8Array): Uint8Array {
  if (isWhole(b) && b.byteLength > 4096) return b;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
}
