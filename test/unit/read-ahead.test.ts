// backup/read-ahead: entries taken from the walk ahead of the consumer, their
// small files read in batches, everything handed on in walk order but for
// the small files that look incompressible, last in their batch. A fake
// reader answers batches late and out of order and records which parts of
// the shared ring each batch may write, so the tests can check the order,
// the bounds (entries ahead, ring space in use), the batching, and that the
// walk's warnings keep their place among the consumer's.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, test } from 'vitest';
import { looksIncompressible } from '../../src/backup/compress.js';
import { readAhead } from '../../src/backup/read-ahead.js';
import type { ReadAheadLimits } from '../../src/backup/read-ahead.js';
import type { FileRead } from '../../src/backup/source-jobs.js';
import type { SourceReader } from '../../src/backup/source-readers.js';
import type { WalkEntry } from '../../src/backup/walk.js';
import type { Warnings } from '../../src/report.js';
import { newWarnings, seededRandom } from './helpers.js';

const LIMITS: ReadAheadLimits = { files: 8, bytes: 1000, smallFile: 300 };

function entry(name: string, type: WalkEntry['type'], size = 0): WalkEntry {
  return { absPath: `/t/${name}`, archivePath: `t/${name}`, type, stat: { dev: 1, ino: 1, mode: 0o644, nlink: 1, uid: 0, gid: 0, rdev: 0, size, mtimeMs: 0 } as Stats };
}

/** What the fake reader puts in a file: random bytes if its name starts with "r", else its path's bytes, repeated. */
function content(path: string, size: number): Buffer {
  if (basename(path).startsWith('r')) return seededRandom(createHash('sha256').update(path).digest().readUInt32LE(0)).bytes(size);
  return Buffer.from(path.repeat(Math.ceil(size / path.length) + 1)).subarray(0, size);
}

/**
 * A reader that answers each batch only after the next one was asked for (or
 * after a delay), newest first, and checks that no batch writes ring space
 * the consumer still holds.
 */
class FakeReader implements Pick<SourceReader, 'read'> {
  batches: string[][] = [];
  /** Ring spaces handed to batches and not yet seen passed by the consumer, by path. */
  readonly inUse = new Map<string, [number, number]>();
  private parked: (() => void)[] = [];

  /** `prompt`: answer each batch as soon as it is asked for, in order. */
  constructor(private readonly prompt = false) {}

  read(paths: string[], sizes: number[], offsets: number[], into: SharedArrayBuffer): Promise<FileRead[]> {
    this.batches.push(paths);
    for (const [i, path] of paths.entries()) {
      const [from, to] = [offsets[i]!, offsets[i]! + sizes[i]!];
      expect(to).toBeLessThanOrEqual(into.byteLength);
      for (const [other, [a, b]] of this.inUse) expect(to <= a || from >= b || from === to || a === b, `${path} overlaps ${other}`).toBe(true);
      this.inUse.set(path, [from, to]);
    }
    return new Promise((resolve) => {
      const answer = () => {
        const ring = Buffer.from(into);
        resolve(paths.map((path, i) => {
          content(path, sizes[i]!).copy(ring, offsets[i]);
          return { length: sizes[i]!, sha256: `sha of ${path}`, after: { size: sizes[i]!, mtimeMs: 0 } };
        }));
      };
      if (this.prompt) return answer();
      // Answer the previous batch now (out of order), this one later.
      this.parked.push(answer);
      if (this.parked.length > 1) this.parked.splice(0, this.parked.length - 1).reverse().forEach((a) => a());
      setTimeout(() => {
        const i = this.parked.indexOf(answer);
        if (i >= 0) this.parked.splice(i, 1)[0]!();
      }, 2);
    });
  }

  passed(path: string): void {
    this.inUse.delete(path);
  }
}

async function* fromList(entries: WalkEntry[], onPull?: (i: number) => void): AsyncGenerator<WalkEntry> {
  for (const [i, e] of entries.entries()) {
    onPull?.(i);
    await new Promise((resolve) => setImmediate(resolve));
    yield e;
  }
}

/** With `dense`, about half the small files hold random bytes. */
function mixedEntries(n: number, seed: number, dense = false): WalkEntry[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const kind = rnd.int(10);
    if (kind === 0) return entry(`d${i}`, 'directory');
    if (kind === 1) return entry(`big${i}`, 'file', 301 + rnd.int(5000));
    if (kind === 2) return entry(`empty${i}`, 'file', 0);
    if (kind === 3) return entry(`link${i}`, 'symlink');
    return entry(`${dense && rnd.int(2) ? 'r' : 'f'}${i}`, 'file', 1 + rnd.int(300));
  });
}

const looksDense = (e: WalkEntry) => looksIncompressible(content(e.absPath, e.stat.size));

/**
 * The documented order, run by run: walk order, except that in each run of
 * small files read in one batch (at most `most` of them, cut before a file
 * the walk warned about), those that look incompressible come after the
 * others. `first` is each run's first entry in walk order.
 */
function expectedRuns(entries: WalkEntry[], batches: string[][], warnedBefore: Set<string>, most: number): { first: string; order: string[] }[] {
  const batchOf = new Map(batches.flatMap((b, i) => b.map((path) => [path, i] as const)));
  const runs: { first: string; order: string[] }[] = [];
  for (let i = 0; i < entries.length;) {
    const first = entries[i++]!;
    const run = [first];
    if (batchOf.has(first.absPath)) {
      while (i < entries.length && run.length < most && batchOf.get(entries[i]!.absPath) === batchOf.get(first.absPath) && !warnedBefore.has(entries[i]!.absPath)) run.push(entries[i++]!);
    }
    runs.push({ first: first.absPath, order: [...run.filter((e) => !looksDense(e)), ...run.filter(looksDense)].map((e) => e.absPath) });
  }
  return runs;
}

function expectedOrder(entries: WalkEntry[], batches: string[][], warnedBefore: Set<string>, most: number): string[] {
  return expectedRuns(entries, batches, warnedBefore, most).flatMap((r) => r.order);
}

describe('read-ahead', () => {
  test('entries come out in walk order, each small file with its bytes (aligned in the ring), though batches are answered out of order', async () => {
    const entries = mixedEntries(200, 1);
    const reader = new FakeReader();
    const out: string[] = [];
    for await (const item of readAhead(fromList(entries), newWarnings(), reader, LIMITS)) {
      out.push(item.entry.absPath);
      const { size } = item.entry.stat;
      if (item.entry.type === 'file' && size <= LIMITS.smallFile) {
        expect(item.small, item.entry.absPath).toBeDefined();
        expect(item.small!.data.equals(content(item.entry.absPath, size)), item.entry.absPath).toBe(true);
        expect(item.small!.read.sha256).toBe(`sha of ${item.entry.absPath}`);
        // Spaces start on 8-byte boundaries, so copying a file out of the shared ring goes word by word.
        if (size) expect(item.small!.data.byteOffset % 8, item.entry.absPath).toBe(0);
      } else {
        expect(item.small, item.entry.absPath).toBeUndefined(); // larger files are the consumer's to stream
      }
      reader.passed(item.entry.absPath);
    }
    expect(out).toEqual(entries.map((e) => e.absPath));
  });

  test('small files that look incompressible come after the other small files of their batch, which keep walk order; nothing else moves', async () => {
    const entries = mixedEntries(400, 11, true);
    const limits = { files: 32, bytes: 4000, smallFile: 300 };
    const reader = new FakeReader();
    const out: string[] = [];
    for await (const item of readAhead(fromList(entries), newWarnings(), reader, limits)) {
      if (item.small) expect(item.small.data.equals(content(item.entry.absPath, item.entry.stat.size)), item.entry.absPath).toBe(true);
      out.push(item.entry.absPath);
      reader.passed(item.entry.absPath);
    }
    expect(out).toEqual(expectedOrder(entries, reader.batches, new Set(), limits.files / 2));
    const moved = out.filter((path, i) => path !== entries[i]!.absPath);
    expect(moved.length).toBeGreaterThan(40);
    // Only small files move, and only within their batch: directories, links and streamed files keep their index.
    for (const [i, e] of entries.entries()) if (e.type !== 'file' || e.stat.size > limits.smallFile) expect(out[i], e.absPath).toBe(e.absPath);
  });

  test('the order depends on the tree, not on when batches are answered', async () => {
    const entries = mixedEntries(300, 12, true);
    const orders: string[][] = [];
    for (const reader of [new FakeReader(), new FakeReader(true)]) {
      const out: string[] = [];
      for await (const item of readAhead(fromList(entries), newWarnings(), reader, LIMITS)) {
        out.push(item.entry.absPath);
        reader.passed(item.entry.absPath);
      }
      orders.push(out);
    }
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[0]).not.toEqual(entries.map((e) => e.absPath));
  });

  test('bounded: never more than `files` entries ahead of the consumer, ring space of held files never reused', async () => {
    // Sizes up to the ring's third: the ring fills before the window does, so both bounds are exercised.
    const rnd = seededRandom(7);
    // Every other file random, so files are also handed on out of walk order, and their spaces given back later.
    const entries = Array.from({ length: 300 }, (_, i) => entry(`${i % 2 ? 'r' : 'f'}${i}`, 'file', 1 + rnd.int(LIMITS.smallFile)));
    const reader = new FakeReader();
    let pulled = 0;
    let consumed = 0;
    let mostAhead = 0;
    for await (const item of readAhead(fromList(entries, (i) => (pulled = i + 1)), newWarnings(), reader, LIMITS)) {
      consumed++;
      mostAhead = Math.max(mostAhead, pulled - consumed + 1);
      // The consumer still holds this file's bytes: they must be intact whatever was read meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(item.small!.data.equals(content(item.entry.absPath, item.entry.stat.size))).toBe(true);
      reader.passed(item.entry.absPath);
    }
    expect(consumed).toBe(entries.length);
    expect(mostAhead).toBeLessThanOrEqual(LIMITS.files + 1); // the window, plus the one taken from the walk and waiting for room
  });

  test('small files are read in batches, not one request per file', async () => {
    const entries = Array.from({ length: 400 }, (_, i) => entry(`f${i}`, 'file', 10));
    const reader = new FakeReader();
    const limits = { ...LIMITS, files: 64, bytes: 1 << 20 };
    for await (const item of readAhead(fromList(entries), newWarnings(), reader, limits)) reader.passed(item.entry.absPath);
    expect(reader.batches.flat()).toEqual(entries.map((e) => e.absPath));
    expect(reader.batches.length).toBeLessThanOrEqual(Math.ceil(entries.length / (limits.files / 2)));
  });

  test("the walk's warnings keep their place among the consumer's, though the walk runs ahead", async () => {
    const warnings = newWarnings();
    const entries = mixedEntries(120, 3, true);
    // The walk warns about a skipped path before every fifth entry, and at its end.
    async function* walkWithWarnings(w: Warnings): AsyncGenerator<WalkEntry> {
      for (const [i, e] of entries.entries()) {
        if (i % 5 === 0) w.add('source-vanished', `${e.absPath}-skipped`, 'walk');
        await new Promise((resolve) => setImmediate(resolve));
        yield e;
      }
      w.add('source-vanished', '/t/after-the-last', 'walk');
    }
    const reader = new FakeReader();
    const out: string[] = [];
    for await (const item of readAhead(walkWithWarnings(warnings), warnings, reader, LIMITS)) {
      warnings.add('source-changed', item.entry.absPath, 'consumer');
      out.push(item.entry.absPath);
      reader.passed(item.entry.absPath);
    }
    // A file the walk warned before starts a run, and the warning comes before the run: after every entry before it in the walk, before every one after.
    const warned = new Set(entries.filter((_, i) => i % 5 === 0).map((e) => e.absPath));
    const runs = expectedRuns(entries, reader.batches, warned, LIMITS.files / 2);
    expect(out).toEqual(runs.flatMap((r) => r.order));
    expect(out).not.toEqual(entries.map((e) => e.absPath));
    const expected = runs.flatMap((r) => (warned.has(r.first) ? [`${r.first}-skipped`, ...r.order] : r.order));
    expect(warnings.kept.map((w) => w.path)).toEqual([...expected, '/t/after-the-last']);
  });

  test('a failed batch fails the stream at its first file, after the entries before it', async () => {
    const entries = Array.from({ length: 40 }, (_, i) => entry(`f${i}`, 'file', 10));
    let calls = 0;
    const reader: Pick<SourceReader, 'read'> = {
      read: (_paths, sizes) => (++calls === 2 ? Promise.reject(new Error('source thread exited')) : Promise.resolve(sizes.map((length) => ({ length, sha256: '' })))),
    };
    const out: string[] = [];
    await expect((async () => {
      for await (const item of readAhead(fromList(entries), newWarnings(), reader, LIMITS)) out.push(item.entry.absPath);
    })()).rejects.toThrow('source thread exited');
    expect(out).toEqual(entries.slice(0, LIMITS.files).map((e) => e.absPath)); // the first batch: a full window
  });

  test('a consumer that stops early stops the walk', async () => {
    let stopped = false;
    async function* walk(): AsyncGenerator<WalkEntry> {
      try {
        for (let i = 0; ; i++) yield entry(`f${i}`, 'file', 10);
      } finally {
        stopped = true;
      }
    }
    const reader = new FakeReader();
    for await (const item of readAhead(walk(), newWarnings(), reader, LIMITS)) {
      if (item.entry.absPath === '/t/f20') break;
      reader.passed(item.entry.absPath);
    }
    expect(stopped).toBe(true);
  });
});
