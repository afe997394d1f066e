/** Worker thread entry: runs chunk jobs posted by parallel/pool.ts. */
import { parentPort } from 'node:worker_threads';
import { owned, runChunkJob } from './chunk-jobs.js';
import type { ChunkJob } from './chunk-jobs.js';

const port = parentPort!;
port.on('message', (msg: { id: number; job: ChunkJob }) => {
  try {
    const r = runChunkJob(msg.job);
    if ('bytes' in r) {
      const bytes = owned(r.bytes);
      port.postMessage({ id: msg.id, result: { codec: r.codec, bytes } }, [bytes.buffer as ArrayBuffer]);
    } else if ('plain' in r) {
      const plain = owned(r.plain);
      port.postMessage({ id: msg.id, result: { plain } }, [plain.buffer as ArrayBuffer]);
    } else {
      port.postMessage({ id: msg.id, result: r });
    }
  } catch (err) {
    port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
