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

/** A data frame to authenticate, decrypt, unpad and decompress; `data` is the sealed body. */
export interface DecodeJob {
  op: 'decode';
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
  data: Uint8Array;
  chunkSize: number;
}

export type ChunkJob = DecodeJob | SealJob;

/** Why a data frame yields no plaintext: it does not authenticate, or its payload is malformed. */
export type DecodeFailure = 'authentication' | 'payload';

/** A sealed frame comes with the chunk's data, `spent`, whose memory the caller may reuse. */
export type ChunkResult = { plain: Uint8Array } | { failed: DecodeFailure } | { frame: Uint8Array; spent: Uint8Array };

export function runChunkJob(job: ChunkJob): ChunkResult {
  if (job.op === 'seal') return { frame: sealDataChunk(job, job.into), spent: job.data };
  return decodeFrame(job);
}

function decodeFrame(job: DecodeJob): ChunkResult {
  // The job's frame is this call's own (transferred, or read for it alone).
  const opened = nodeAead.openInPlace(job.key, job.nonce, job.data, job.aad);
  if (!opened || opened.length < 1) return { failed: 'authentication' };
  const plain = payloadPlaintext(opened[0]!, asBuffer(opened).subarray(1), job.chunkSize);
  return plain ? { plain } : { failed: 'payload' };
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
