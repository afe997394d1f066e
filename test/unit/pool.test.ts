/**
 * How the pool shares its workers between chunk jobs and restore's file
 * lanes (the compiled modules: only there does the worker script exist). A
 * chunk job goes to the idle worker with the least file work queued, and on a
 * worker it runs before the batches of a large file's bytes that wait there;
 * small files' batches still run in the order they came.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { chunkWork, leastBacklog } from '../../dist/parallel/pool.js';
import { FileWriters } from '../../dist/restore/file-writers.js';
import type { FileOutcome } from '../../src/restore/file-jobs.js';
import { seededRandom, withTempDir } from './helpers.js';

const MiB = 1024 * 1024;
const meta = { mode: 0o600, uid: -1, gid: -1, mtimeMs: null };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** A frame that fails authentication: the job still runs and answers. */
const garbage = () => ({ frame: { key: Buffer.alloc(32, 1), nonce: Buffer.alloc(12, 2), aad: Buffer.alloc(8, 3) }, sealed: Buffer.alloc(4096, 4) });

describe('leastBacklog', () => {
  test('the idle worker with the least file work, the last idle one among equals', () => {
    expect(leastBacklog([0])).toBe(0);
    expect(leastBacklog([0, 0])).toBe(1);
    expect(leastBacklog([0, 9 * MiB])).toBe(0);
    expect(leastBacklog([9 * MiB, 0])).toBe(1);
    expect(leastBacklog([MiB, 3 * MiB, 2 * MiB])).toBe(0);
    expect(leastBacklog([2 * MiB, MiB, MiB])).toBe(2);
  });
});

describe('one worker, a chunk job and a large file', () => {
  test('the chunk job runs before the file bytes queued ahead of it; the file is still written whole', () =>
    withTempDir('pool-order', async (dir) => {
      const work = chunkWork(1);
      const writers = new FileWriters(work);
      try {
        const content = seededRandom(9).bytes(24 * MiB);
        const settled: string[] = [];
        const id = writers.begin(join(dir, '.tmp-large'));
        for (let off = 0; off < content.length; off += MiB) writers.data(id, content.subarray(off, off + MiB));
        const file = writers.end(id, join(dir, 'large'), meta, { sha256: sha(content), size: content.length }).then((o: FileOutcome) => {
          settled.push('file');
          return o;
        });
        // The file's last batch goes once the caller yields: the job is posted behind all of it, while the worker
        // is still writing the first of its 24 MiB.
        await new Promise((resolve) => setImmediate(resolve));
        const { frame, sealed } = garbage();
        const job = work.decode(frame, sealed, MiB).then((r) => {
          settled.push('chunk job');
          return r;
        });
        expect(await job).toEqual({ failed: 'authentication' });
        expect((await file).status).toBe('written');
        expect(settled).toEqual(['chunk job', 'file']);
        await writers.settled();
      } finally {
        await writers.close();
        await work.close();
      }
    }));

  test("small files' batches are not held back: a chunk job after them answers after their files", () =>
    withTempDir('pool-small', async (dir) => {
      const work = chunkWork(1);
      const writers = new FileWriters(work);
      try {
        const settled: string[] = [];
        const files: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          const body = Buffer.from(`file ${i}\n`);
          const id = writers.begin(join(dir, `.tmp-${i}`));
          writers.data(id, body);
          files.push(writers.end(id, join(dir, `f${i}`), meta, { sha256: sha(body), size: body.length }).then(() => settled.push(`f${i}`)));
        }
        // Batched files go once the caller yields; the job is posted after that.
        await new Promise((resolve) => setImmediate(resolve));
        const { frame, sealed } = garbage();
        await work.decode(frame, sealed, MiB).then(() => settled.push('chunk job'));
        await Promise.all(files);
        expect(settled).toEqual([...Array.from({ length: 20 }, (_, i) => `f${i}`), 'chunk job']);
      } finally {
        await writers.close();
        await work.close();
      }
    }));
});
