/**
 * Young-generation garbage collections on demand, for the worker threads.
 *
 * A worker's garbage is almost all memory outside the JavaScript heap: the
 * chunk it was sent, the buffer node:crypto returned, the batch it wrote.
 * V8 frees such memory when a collection finds its few-byte handles dead,
 * but it starts one by itself only when its heap fills (a worker's barely
 * grows) or when outside memory has grown by tens of MiB since the last.
 * Each thread thus sat on 40-60 MiB of dead buffers, and the process on
 * more than the 256 MiB it may use. A scavenge every few jobs finds the
 * handles still young and frees their memory at once; it costs well under
 * a millisecond (measured in docs/PERFORMANCE.md, "Memory").
 *
 * The collector is reached through a context created after --expose-gc is
 * set, as Node offers no other way; where that fails, nothing is collected
 * early and nothing else changes.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor' }) => void;

function collector(): Collect | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } catch {
    return undefined;
  }
}

const collect = collector();

/** Whether early collections are possible here. */
export const canScavenge = collect !== undefined;

/** Returns a function to call once per job: every `jobs`-th call runs a scavenge. */
export function scavengeEvery(jobs: number): () => void {
  if (!collect) return () => {};
  let count = 0;
  return () => {
    if (++count % jobs === 0) collect({ type: 'minor' });
  };
}
