/**
 * FileWriters, on a pool's threads (the compiled modules: only there does the
 * worker script exist) and in-process: the same outcomes, files whole or absent.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FileWriters as ThreadedWriters } from '../../dist/restore/file-writers.js';
import { chunkWork } from '../../dist/parallel/pool.js';
import { FileWriters } from '../../src/restore/file-writers.js';
import { FileJobs } from '../../src/restore/file-jobs.js';
import type { FileOp, FileOutcome, SmallFileOp } from '../../src/restore/file-jobs.js';
import { runFileBatch } from '../../src/restore/file-batch.js';
import type { FileBatch } from '../../src/restore/file-batch.js';
import type { ChunkWork } from '../../src/parallel/pool.js';
import { seededRandom, withTempDir } from './helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const meta = (mtimeMs: number | null = 1_500_000_000_000) => ({ mode: 0o640, uid: -1, gid: -1, mtimeMs });

/** Writers on a pool of n threads; close() also stops the pool. */
function threaded(n: number): FileWriters {
  const work = chunkWork(n);
  const w = new ThreadedWriters(work) as unknown as FileWriters;
  const close = w.close.bind(w);
  w.close = async () => {
    await close();
    await work.close();
  };
  return w;
}

describe.each([
  ['two threads', threaded],
  ['in-process', () => new FileWriters()],
] as const)('FileWriters, %s', (_name, make) => {
  const write = (w: FileWriters, dir: string, name: string, pieces: Buffer[], expected = true, mtimeMs?: number | null): Promise<FileOutcome> => {
    const final = join(dir, name);
    const id = w.begin(join(dir, `.tmp-${name}`));
    for (const p of pieces) w.data(id, p);
    const all = Buffer.concat(pieces);
    return w.end(id, final, meta(mtimeMs), expected ? { sha256: sha(all), size: all.length } : null);
  };

  test('many small files, a large one streamed across batches, and a name written twice', () =>
    withTempDir('fw', async (dir) => {
      const w = make(2);
      const rnd = seededRandom(7);
      const small = Array.from({ length: 300 }, (_, i) => rnd.bytes(1 + ((i * 37) % 9000)));
      const large = rnd.bytes(5 * 1024 * 1024 + 123);
      const pieces = Array.from({ length: Math.ceil(large.length / 65536) }, (_, i) => large.subarray(i * 65536, (i + 1) * 65536));
      try {
        const outcomes: Promise<FileOutcome>[] = small.map((b, i) => write(w, dir, `s${i}`, [b.subarray(0, 10), b.subarray(10)]));
        outcomes.push(write(w, dir, 'large', pieces, true, -315_619_200_000)); // 1960
        outcomes.push(write(w, dir, 'twice', [Buffer.from('first')]));
        outcomes.push(write(w, dir, 'twice', [Buffer.from('second')]));
        await w.settled();
        for (const o of await Promise.all(outcomes)) expect(o.status).toBe('written');
      } finally {
        await w.close();
      }
      for (const [i, b] of small.entries()) expect((await readFile(join(dir, `s${i}`))).equals(b)).toBe(true);
      expect((await readFile(join(dir, 'large'))).equals(large)).toBe(true);
      expect(await readFile(join(dir, 'twice'), 'utf8')).toBe('second');
      const st = await lstat(join(dir, 'large'));
      expect(st.mode & 0o7777).toBe(0o640);
      expect(st.mtimeMs).toBe(-315_619_200_000);
      expect((await readdir(dir)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    }));

  test('a mismatch, a directory in the way and a missing folder: outcomes, and nothing left behind', () =>
    withTempDir('fw', async (dir) => {
      const w = make(2);
      await mkdir(join(dir, 'taken'));
      try {
        const final = join(dir, 'liar');
        const id = w.begin(join(dir, '.tmp-liar'));
        w.data(id, Buffer.from('tampered'));
        const liar = w.end(id, final, meta(), { sha256: sha(Buffer.from('original')), size: 8 });
        const taken = write(w, dir, 'taken', [Buffer.from('x')]);
        const missing = w.begin(join(dir, 'no', '.tmp'));
        w.data(missing, Buffer.from('y'));
        const lost = w.end(missing, join(dir, 'no', 'f'), meta(), null);
        expect((await liar).status).toBe('mismatch');
        expect((await taken).status).toBe('is-directory');
        expect(await lost).toMatchObject({ status: 'failed', failure: { stage: 'create', code: 'ENOENT' } });
      } finally {
        await w.close();
      }
      expect((await readdir(dir)).sort()).toEqual(['taken']);
      expect(await readdir(join(dir, 'taken'))).toEqual([]);
    }));

  test('close() finishes the files already ended and drops the one still open', () =>
    withTempDir('fw', async (dir) => {
      const w = make(1);
      const done = write(w, dir, 'done', [Buffer.from('complete')]);
      const open = w.begin(join(dir, '.tmp-open'));
      w.data(open, Buffer.alloc(3 * 1024 * 1024, 1)); // large enough to be sent before it ends
      await w.close();
      expect((await done).status).toBe('written');
      expect((await readdir(dir)).sort()).toEqual(['done']);
    }));

  test('hash-only (no temporary name): outcomes as when writing, and nothing on disk', () =>
    withTempDir('fw', async (dir) => {
      const w = make(2);
      try {
        const hashOnly = (name: string, pieces: Buffer[]) => {
          const id = w.begin(null);
          for (const p of pieces) w.data(id, p);
          const all = Buffer.concat(pieces);
          return w.end(id, join(dir, name), meta(), { sha256: sha(all), size: all.length });
        };
        const good = hashOnly('good', [Buffer.from('a'), Buffer.alloc(2 * 1024 * 1024, 2)]);
        const id = w.begin(null);
        w.data(id, Buffer.from('tampered'));
        const bad = w.end(id, join(dir, 'bad'), meta(), { sha256: sha(Buffer.from('original')), size: 8 });
        expect(await good).toEqual({ id: 0, status: 'written', size: 2 * 1024 * 1024 + 1 });
        expect((await bad).status).toBe('mismatch');
      } finally {
        await w.close();
      }
      expect(await readdir(dir)).toEqual([]);
    }));

  test('several callers can wait for room at once, and all go on', () =>
    withTempDir('fw', async (dir) => {
      const w = make(2);
      try {
        const a = w.begin(null);
        const b = w.begin(null);
        for (let i = 0; i < 12; i++) {
          w.data(a, Buffer.alloc(1024 * 1024, i));
          w.data(b, Buffer.alloc(1024 * 1024, i));
        }
        await Promise.all([w.room(), w.room(), w.room()]);
        const outcomes = await Promise.all([w.end(a, join(dir, 'a'), meta(), null), w.end(b, join(dir, 'b'), meta(), null)]);
        expect(outcomes.map((o) => o.status)).toEqual(['written', 'written']);
      } finally {
        await w.close();
      }
    }));
});

/**
 * Lanes that run each batch in-process, a turn later, and record which lane
 * was handed which file: where files go, without threads.
 */
function recordingLanes(count: number) {
  const laneOf = new Map<string, number>();
  let onReply: (r: unknown) => void = () => {};
  const jobs = Array.from({ length: count }, () => new FileJobs());
  const work = {
    parallelism: count,
    fileLanes(reply: (r: unknown) => void) {
      onReply = reply;
      return jobs.map((j, index) => ({
        post(message: unknown) {
          const batch = message as FileBatch;
          if (!('close' in batch)) {
            for (const op of JSON.parse(batch.ops) as (FileOp | SmallFileOp)[]) {
              const final = Array.isArray(op) ? op[2] : op.op === 'begin' ? op.final : undefined;
              if (final) laneOf.set(final, index);
            }
          }
          setImmediate(() => onReply(runFileBatch(j, batch)));
        },
      }));
    },
    releaseFileLanes() {},
  } as unknown as ChunkWork;
  return { writers: new FileWriters(work), laneOf };
}

describe('FileWriters: which lane writes a file', () => {
  const writeIn = (w: FileWriters, dir: string, names: string[], bytes: number) =>
    names.map((name) => {
      const id = w.begin(undefined, join(dir, name));
      w.data(id, Buffer.alloc(bytes, 1));
      return w.end(id, join(dir, name), meta(), null);
    });
  const lanesOf = (laneOf: Map<string, number>, dir: string) => new Set([...laneOf].filter(([path]) => path.startsWith(`${dir}/`)).map(([, lane]) => lane));

  test("a folder's small files go to one lane, the next folder's to the other, so two lanes seldom create files in one folder at once", () =>
    withTempDir('fw', async (dir) => {
      const { writers, laneOf } = recordingLanes(2);
      const folders = ['a', 'b', 'c', 'd'].map((f) => join(dir, f));
      for (const f of folders) await mkdir(f);
      try {
        const outcomes = folders.flatMap((f) => writeIn(writers, f, Array.from({ length: 50 }, (_, i) => `f${i}`), 2000));
        await writers.settled();
        for (const o of await Promise.all(outcomes)) expect(o.status).toBe('written');
      } finally {
        await writers.close();
      }
      const lanes = folders.map((f) => [...lanesOf(laneOf, f)]);
      for (const l of lanes) expect(l).toHaveLength(1);
      expect(new Set(lanes.flat())).toEqual(new Set([0, 1]));
    }));

  test('large files in one folder, and a folder with more files than half the bound in flight, still use both lanes', () =>
    withTempDir('fw', async (dir) => {
      const { writers, laneOf } = recordingLanes(2);
      const [large, many] = [join(dir, 'large'), join(dir, 'many')];
      await mkdir(large);
      await mkdir(many);
      try {
        const outcomes = [...writeIn(writers, large, ['x', 'y', 'z'], 6 * 1024 * 1024), ...writeIn(writers, many, Array.from({ length: 600 }, (_, i) => `f${i}`), 10)];
        await writers.settled();
        for (const o of await Promise.all(outcomes)) expect(o.status).toBe('written');
      } finally {
        await writers.close();
      }
      expect(lanesOf(laneOf, large)).toEqual(new Set([0, 1]));
      expect(lanesOf(laneOf, many)).toEqual(new Set([0, 1]));
      expect((await readdir(many)).length).toBe(600);
    }));
});
