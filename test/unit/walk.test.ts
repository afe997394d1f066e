// backup/walk with its children lstat'ed in batches ahead of it: the order
// (depth first, names in UTF-8 byte order) does not depend on when batches
// are answered; excluded paths are never lstat'ed; hard links are found
// across batches; the next directory is listed ahead of the walk; the walk's
// warnings come in walk order.
import { link, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { StatResult } from '../../src/backup/source-jobs.js';
import { inProcessReader } from '../../src/backup/source-readers.js';
import type { SourceReader } from '../../src/backup/source-readers.js';
import { walk } from '../../src/backup/walk.js';
import type { WalkOptions } from '../../src/backup/walk.js';
import { newWarnings, withTempDir } from './helpers.js';

/** Answers lstat batches late, the newest first, and remembers every path asked for. */
class LateReader implements Pick<SourceReader, 'lstat'> {
  readonly asked: string[] = [];
  private parked: (() => void)[] = [];

  lstat(paths: string[]): Promise<StatResult[]> {
    this.asked.push(...paths);
    return new Promise((resolve, reject) => {
      const answer = () => inProcessReader.lstat(paths).then(resolve, reject);
      this.parked.push(answer);
      if (this.parked.length > 1) this.parked.splice(0).reverse().forEach((a) => void a());
      setTimeout(() => {
        const i = this.parked.indexOf(answer);
        if (i >= 0) void this.parked.splice(i, 1)[0]!();
      }, 1);
    });
  }
}

/** Whether `ready` turns true within `ms`, checked as the event loop turns. */
async function within(ms: number, ready: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return true;
}

async function paths(root: string, opts: Partial<WalkOptions> = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const e of walk([root], { excludes: [], warnings: newWarnings(), ...opts })) out.push(e.absPath.slice(root.length) || '.');
  return out;
}

describe('walk', () => {
  test('names in UTF-8 byte order, not UTF-16 order', () =>
    withTempDir('walk', async (dir) => {
      // UTF-8 order: Z (5a) < a (61) < é (c3) < U+E000 (ee 80 80) < U+FF01 (ef bc 81) < U+1F600 (f0 9f 98 80);
      // in UTF-16 the emoji (a surrogate pair, d83d de00) would sort before U+E000.
      const names = ['😀', '\uff01', '\ue000', 'é', 'a', 'Z'];
      for (const n of names) await writeFile(join(dir, n), n);
      const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(sorted).toEqual(['Z', 'a', 'é', '\ue000', '\uff01', '😀']);
      expect(await paths(dir)).toEqual(['.', ...sorted.map((n) => `/${n}`)]);
    }));

  test('large directories: the same walk however late and out of order the lstat batches are answered', () =>
    withTempDir('walk', async (dir) => {
      for (const d of ['a', 'b', 'b/inner', 'c']) await mkdir(join(dir, d));
      // 600 children: three lstat batches of 256, the last one partial.
      for (let i = 0; i < 600; i++) await writeFile(join(dir, 'b', `f${String(i).padStart(3, '0')}`), 'x'.repeat(i));
      for (let i = 0; i < 150; i++) await writeFile(join(dir, 'b', 'inner', `g${i}`), '');
      await writeFile(join(dir, 'a', 'first'), 'x');
      await link(join(dir, 'a', 'first'), join(dir, 'b', 'inner', 'hard'));
      await symlink('../a/first', join(dir, 'c', 'sym'));
      const inProcess = await paths(dir);
      expect(inProcess.length).toBe(1 + 3 + 1 + 600 + 1 + 150 + 1 + 1);
      expect(await paths(dir, { reader: new LateReader() })).toEqual(inProcess);

      const entries = [];
      for await (const e of walk([dir], { excludes: [], warnings: newWarnings(), reader: new LateReader() })) entries.push(e);
      // Each entry carries its own lstat, whichever batch it came in.
      for (const e of entries) expect(e.stat.ino, e.absPath).toBe((await lstat(e.absPath)).ino);
      for (const e of entries.filter((x) => /\/b\/f\d+$/.test(x.absPath))) expect(e.stat.size, e.absPath).toBe(Number(e.absPath.slice(-3)));
      const hard = entries.find((e) => e.absPath.endsWith('/inner/hard'))!;
      expect(hard).toMatchObject({ type: 'hardlink', link: entries.find((e) => e.absPath.endsWith('/a/first'))!.archivePath });
      expect(entries.find((e) => e.absPath.endsWith('/c/sym'))).toMatchObject({ type: 'symlink', link: '../a/first' });
    }));

  test('excluded paths are never lstat\'ed', () =>
    withTempDir('walk', async (dir) => {
      await mkdir(join(dir, 'cache'));
      await writeFile(join(dir, 'cache', 'blob'), 'x');
      await writeFile(join(dir, 'keep.txt'), 'x');
      await writeFile(join(dir, 'skip.tmp'), 'x');
      const reader = new LateReader();
      expect(await paths(dir, { excludes: ['cache', '*.tmp'], reader })).toEqual(['.', '/keep.txt']);
      expect(reader.asked.map((p) => p.slice(dir.length))).toEqual(['', '/keep.txt']);
    }));

  test('the next directory is listed, and its first lstat batch asked for, while the walk is still before it', () =>
    withTempDir('walk', async (dir) => {
      for (const d of ['a', 'a/deep', 'b', 'c']) await mkdir(join(dir, d));
      for (let i = 0; i < 300; i++) await writeFile(join(dir, 'a', `f${String(i).padStart(3, '0')}`), '');
      for (const f of ['a/deep/x', 'c/z']) await writeFile(join(dir, f), '');
      for (let i = 0; i < 20; i++) await writeFile(join(dir, 'b', `y${String(i).padStart(2, '0')}`), '');
      const log: string[] = [];
      const reader: Pick<SourceReader, 'lstat'> = {
        lstat: (ps) => {
          log.push(`lstat ${ps[0]!.slice(dir.length)}`);
          return inProcessReader.lstat(ps);
        },
      };
      const walked: string[] = [];
      for await (const e of walk([dir], { excludes: [], warnings: newWarnings(), reader })) {
        walked.push(e.absPath.slice(dir.length));
        log.push(`walk ${e.absPath.slice(dir.length)}`);
        // Halfway through a (b's next), and through b (c's next), the next directory's lstats come without the walk moving on.
        const expected = { '/a/f150': 'lstat /b/y00', '/b/y10': 'lstat /c/z' }[e.absPath.slice(dir.length)];
        if (expected) expect(await within(5000, () => log.includes(expected)), expected).toBe(true);
      }
      expect(walked).toEqual(['', '/a', '/a/deep', '/a/deep/x', ...Array.from({ length: 300 }, (_, i) => `/a/f${String(i).padStart(3, '0')}`), '/b', ...Array.from({ length: 20 }, (_, i) => `/b/y${String(i).padStart(2, '0')}`), '/c', '/c/z']);
    }));

  test('warnings come in walk order', () =>
    withTempDir('walk', async (dir) => {
      await mkdir(join(dir, 'a'));
      await mkdir(join(dir, 'a', 'locked'));
      await symlink('x', join(dir, 'a', 'm-link'));
      await writeFile(join(dir, 'b'), 'x');
      const warnings = newWarnings();
      const reader: Pick<SourceReader, 'lstat'> = {
        // The walk sees a.../locked vanish and b's lstat fail, as if they were removed after readdir.
        lstat: async (ps) => (await inProcessReader.lstat(ps)).map((r, i) => (/\/(locked|b)$/.test(ps[i]!) ? { failure: { code: 'ENOENT', reason: 'no such file or directory' } } : r)),
      };
      expect(await paths(dir, { warnings, reader })).toEqual(['.', '/a', '/a/m-link']);
      expect(warnings.kept.map((w) => [w.code, w.path.slice(dir.length)])).toEqual([
        ['source-vanished', '/a/locked'],
        ['source-vanished', '/b'],
      ]);
    }));
});
