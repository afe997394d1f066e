/** Worker thread entry: runs chunk jobs posted by parallel/pool.ts, and file batches from restore/file-writers.ts. */
import { parentPort } from 'node:worker_threads';
import { inJobMemory, owned, runChunkJob } from './chunk-jobs.js';
import type { ChunkJob, DecodeJob } from './chunk-jobs.js';
import { FileJobs } from '../restore/file-jobs.js';
import { isLargeFileData, runFileBatch } from '../restore/file-batch.js';
import type { FileBatch } from '../restore/file-batch.js';
import { scavengeEvery } from './scavenge.js';
import { yieldToMainThread } from './priority.js';

yieldToMainThread();
const port = parentPort!;
const files = new FileJobs();
// A chunk job leaves about 1 MiB of dead buffers: this keeps a worker's to a few MiB. File batches do not count:
// their buffers go back to be reused, and forcing collections on their account alone cost a small-file restore
// about a second of CPU (docs/PERFORMANCE.md).
const scavenge = scavengeEvery(4);
/**
 * A batch full of a large file's bytes waits here and runs on a later turn
 * of the event loop, so a chunk job posted meanwhile runs before it: the next
 * chunks are what the other lane's files wait for. Run in arrival order, a
 * 2 GiB restore's chunk jobs queued behind one lane's writes, and half of it
 * ran on one core (docs/PERFORMANCE.md, "Direct I/O for volumes"). Lighter
 * batches (small files) run at once, unless batches wait: they keep their
 * order. Deferring those too held up to 60-80 MiB more of batch buffers in
 * a small-file restore.
 */
const batches: FileBatch[] = [];
function runBatch(batch: FileBatch): void {
  const reply = runFileBatch(files, batch);
  port.postMessage({ files: reply }, 'buffers' in reply ? reply.buffers : []);
}
function runWaitingBatch(): void {
  runBatch(batches.shift()!);
  if (batches.length) setImmediate(runWaitingBatch);
}
port.on('message', (msg: { id: number; job: ChunkJob } | { files: FileBatch }) => {
  if ('files' in msg) {
    if (!batches.length && !isLargeFileData(msg.files)) runBatch(msg.files);
    else if (batches.push(msg.files) === 1) setImmediate(runWaitingBatch);
    return;
  }
  scavenge();
  try {
    const r = runChunkJob(msg.job);
    if ('frame' in r) {
      // A sealed frame is a view of a buffer made or lent for it alone (backup/seal-chunk.ts): transferred whole, never
      // copied; the chunk's data goes back too, for its memory to be reused.
      port.postMessage({ id: msg.id, result: r }, [r.frame.buffer as ArrayBuffer, r.spent.buffer as ArrayBuffer]);
      return;
    }
    if ('plain' in r) {
      const job = msg.job as DecodeJob;
      const plain = inJobMemory(job, r.plain) ? r.plain : owned(r.plain);
      const transfer = [plain.buffer as ArrayBuffer];
      if (r.spare) transfer.push(r.spare.buffer as ArrayBuffer);
      port.postMessage({ id: msg.id, result: r.spare ? { plain, spare: r.spare } : { plain } }, transfer);
    } else {
      port.postMessage({ id: msg.id, result: r });
    }
  } catch (err) {
    port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
