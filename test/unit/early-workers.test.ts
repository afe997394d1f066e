/**
 * Workers started before a command loads (early-workers.ts), from the compiled
 * modules: only there does the worker script exist. A pool adopts them only
 * when they are as many as it wants and all alive; otherwise it starts its own.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { startWorkersEarly, takeEarlyWorkers } from '../../dist/parallel/early-workers.js';
import { chunkWork } from '../../dist/parallel/pool.js';
import type { WriterReply } from '../../src/restore/file-batch.js';
import { withTempDir } from './helpers.js';

type Thread = ReturnType<typeof startWorkersEarly>[number];
/** Resolves when the thread has exited (events.once would reject on its 'error'). */
const exited = (w: Thread) => new Promise<void>((resolve) => w.on('exit', () => resolve()));

/** The pool's lanes, each asked to close: what answers is a working thread. */
async function lanesAnswering(workers: number): Promise<number> {
  const work = chunkWork(workers);
  try {
    const replies: WriterReply[] = [];
    const failures: Error[] = [];
    const lanes = work.fileLanes((r) => replies.push(r as WriterReply), (err) => failures.push(err), () => 0);
    for (const lane of lanes) lane.post({ close: true }, []);
    await expect.poll(() => replies.length).toBe(lanes.length);
    expect(replies).toEqual(lanes.map(() => ({ closed: true })));
    expect(failures).toEqual([]);
    return lanes.length;
  } finally {
    await work.close();
  }
}

describe('early workers', () => {
  test('a pool of the same size adopts them, and they answer its jobs', async () => {
    const early = startWorkersEarly(2);
    expect(early).toHaveLength(2);
    const exits = early.map(exited);
    expect(await lanesAnswering(2)).toBe(2);
    // Adopted, then stopped by the pool's close().
    expect(takeEarlyWorkers(2)).toEqual([]);
    await Promise.all(exits);
  });

  test('a pool of another size stops them and starts its own', async () => {
    const early = startWorkersEarly(2);
    const exits = early.map(exited);
    expect(await lanesAnswering(1)).toBe(1);
    await Promise.all(exits);
  });

  test('workers that failed before a pool took them are not adopted', () =>
    withTempDir('early', async (dir) => {
      const broken = join(dir, 'broken.mjs');
      await writeFile(broken, "throw new Error('this worker cannot start');\n");
      const early = startWorkersEarly(2, broken);
      expect(early).toHaveLength(2);
      await Promise.all(early.map(exited));
      expect(takeEarlyWorkers(2)).toEqual([]);
      expect(await lanesAnswering(2)).toBe(2);
    }));
});
