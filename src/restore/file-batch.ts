/**
 * The messages between file-writers.ts and the threads that write: a batch
 * of file ops with the buffers holding their data, and the reply (outcomes,
 * and the buffers handed back for reuse). `close` finishes nothing more:
 * files still open are closed and unlinked.
 */
import type { FileJobs, FileOp, FileOutcome, SmallFileOp } from './file-jobs.js';

/** A batch is sent once it holds this many bytes (restore/file-writers.ts). */
export const BATCH_BYTES = 1024 * 1024;

/** `lane`, `load` and `files` are the sender's, handed back in the reply so it knows which lane has that much less to do. */
export type FileBatch = { lane: number; load: number; files: number; ops: string; buffers: ArrayBuffer[]; bytes: number } | { close: true };

export type WriterReply =
  | {
      lane: number;
      load: number;
      files: number;
      outcomes: FileOutcome[];
      /** Data bytes of the batch, now written (or dropped). */
      bytes: number;
      buffers: ArrayBuffer[];
    }
  | { closed: true };

export function runFileBatch(jobs: FileJobs, batch: FileBatch): WriterReply {
  if ('close' in batch) {
    jobs.abortAll();
    return { closed: true };
  }
  const outcomes: FileOutcome[] = [];
  const buffers = batch.buffers.map((b) => new Uint8Array(b));
  // A JSON string crosses threads at about twice the speed of the same objects.
  for (const op of JSON.parse(batch.ops) as (FileOp | SmallFileOp)[]) {
    const o = Array.isArray(op) ? jobs.runSmallFile(op, buffers) : jobs.run(op, buffers);
    if (o) outcomes.push(o);
  }
  return { lane: batch.lane, load: batch.load, files: batch.files, outcomes, bytes: batch.bytes, buffers: batch.buffers };
}

/** A batch of a large file's bytes: full, and at most one file begun in it. It may wait for chunk jobs (parallel/chunk-worker.ts). */
export function isLargeFileData(batch: FileBatch): boolean {
  return !('close' in batch) && batch.bytes >= BATCH_BYTES && batch.files <= 1;
}
