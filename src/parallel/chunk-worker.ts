/** Worker thread entry: runs chunk jobs posted by parallel/pool.ts. */
import { parentPort } from 'node:worker_threads';
import { owned, runChunkJob } from './chunk-jobs.js';
import type { ChunkJob } from './chunk-jobs.js';

const port = parentPort!;
port.on('message', (msg: { id: number; job: ChunkJob }) => {
  try {
    const r = runChunkJob(msg.job);
    if ('frame' in r) {
      // A sealed frame is a view of a buffer made for it alone (backup/seal-chunk.ts): transferred whole, never copied.
      port.postMessage({ id: msg.id, result: r }, [r.frame.buffer as ArrayBuffer]);
      return;
    }
    if ('bytes' in r) {
      const bytes = owned(r.bytes);
      port.postMessage({ id: msg.id, result: { codec: r.codec, bytes } }, [bytes.buffer as ArrayBuffer]);
    } else {
      const plain = r.plain && owned(r.plain);
      port.postMessage({ id: msg.id, result: { plain } }, plain ? [plain.buffer as ArrayBuffer] : []);
    }
  } catch (err) {
    port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
