/** Writer thread entry: runs the file ops posted by file-writers.ts, in order, and answers each batch. */
import { parentPort } from 'node:worker_threads';
import { FileJobs } from './file-jobs.js';
import type { FileOp, FileOutcome } from './file-jobs.js';
import type { WriterReply } from './file-writers.js';

const port = parentPort!;
const jobs = new FileJobs();
port.on('message', (msg: { ops: string; buffers: ArrayBuffer[]; bytes: number } | { close: true }) => {
  if ('close' in msg) {
    jobs.abortAll();
    port.close();
    return;
  }
  const outcomes: FileOutcome[] = [];
  const buffers = msg.buffers.map((b) => new Uint8Array(b));
  for (const op of JSON.parse(msg.ops) as FileOp[]) {
    const o = jobs.run(op, buffers);
    if (o) outcomes.push(o);
  }
  port.postMessage({ outcomes, bytes: msg.bytes, buffers: msg.buffers } satisfies WriterReply, msg.buffers);
});
