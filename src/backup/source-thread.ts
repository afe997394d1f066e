/** A source thread (source-readers.ts): runs each batch it is sent and answers with the result. */
import { parentPort } from 'node:worker_threads';
import { runSourceJob } from './source-jobs.js';
import type { SourceJob } from './source-jobs.js';

const port = parentPort!;
port.on('message', (m: { id: number; job: SourceJob }) => {
  try {
    const answer = runSourceJob(m.job);
    port.postMessage({ id: m.id, answer });
  } catch (err) {
    port.postMessage({ id: m.id, error: String(err) });
  }
});
