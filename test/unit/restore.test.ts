// restore/fs-writer (safe names, refusals, no partial files) and restore/plan
// (range merging, tar chunk -> volume at volume boundaries, --include).
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { IntegrityError } from '../../src/errors.js';
import type { CatalogEntry } from '../../src/format/catalog.js';
import type { VolumeRecord } from '../../src/format/manifest.js';
import { silentLogger } from '../../src/log.js';
import { FsWriter, safeComponents } from '../../src/restore/fs-writer.js';
import { firstTarChunk, includeFilter, paddedEnd, RangeBuilder, tarChunkToGlobal, volumeOfTarChunk } from '../../src/restore/plan.js';
import type { ArchiveEntry, EntryHeader } from '../../src/restore/untar.js';
import { tarStream } from '../../src/backup/tar.js';
import { walk } from '../../src/backup/walk.js';
import { untar } from '../../src/restore/untar.js';
import { collect, cursorOf, newWarnings, seededRandom, withTempDir } from './helpers.js';

describe('safeComponents', () => {
  test.each([
    ['a', ['a']],
    ['a/b/c', ['a', 'b', 'c']],
    ['a/b/', ['a', 'b']],
    ['./a//b/./c', ['a', 'b', 'c']],
    ['..a/b..', ['..a', 'b..']],
    ['a/.../b', ['a', '...', 'b']],
    ['a\\..\\b', ['a\\..\\b']], // a backslash is an ordinary character on POSIX
    ['ünï/日本', ['ünï', '日本']],
  ])('%j -> %j', (name, parts) => {
    expect(safeComponents(name)).toEqual(parts);
  });

  test.each([
    ['/etc/passwd', 'absolute path'],
    ['//x', 'absolute path'],
    ['/', 'absolute path'],
    ['..', 'path contains ..'],
    ['../x', 'path contains ..'],
    ['a/../../x', 'path contains ..'],
    ['a/..', 'path contains ..'],
    ['a/./../b', 'path contains ..'],
    ['a\0b', 'name contains a NUL byte'],
    ['', 'empty path'],
    ['.', 'empty path'],
    ['./', 'empty path'],
    ['.//./', 'empty path'],
  ])('%j is refused: %s', (name, reason) => {
    expect(safeComponents(name)).toBe(reason);
  });
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function entry(path: string, header: Partial<EntryHeader>, body: Buffer | string = '', expected?: Partial<CatalogEntry>): ArchiveEntry {
  const bytes = Buffer.from(body);
  const h = { name: path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(1_600_000_000_000), size: bytes.length, ...header } as EntryHeader;
  // One piece, read through nextPiece or body, as untar's entries are.
  const pieces = bytes.length ? [bytes] : [];
  const nextPiece = () => pieces.shift() ?? null;
  const bodyPieces = async function* () {
    for (let piece = nextPiece(); piece !== null; piece = nextPiece()) yield piece;
  };
  return { path, header: h, body: { [Symbol.asyncIterator]: bodyPieces }, nextPiece, ...(expected ? { expected: expected as CatalogEntry } : {}) };
}

async function entriesOf(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('FsWriter refuses what would escape the restore folder', () => {
  test('absolute, .. and NUL names are refused and reported; nothing is written', () =>
    withTempDir('fsw', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      const w = new FsWriter(root, newWarnings(), silentLogger);
      for (const p of [`${dir}/abs`, '../up', 'a/../../up2', 'nul\0x']) await w.write(entry(p, {}, 'evil'));
      await w.finish();
      expect(w.refused.map((r) => r.reason)).toEqual(['absolute path', 'path contains ..', 'path contains ..', 'name contains a NUL byte']);
      expect(await entriesOf(dir)).toEqual(['root']);
    }));

  test('a path through a restored symlink is refused', () =>
    withTempDir('fsw', async (dir) => {
      const root = join(dir, 'root');
      const outside = join(dir, 'outside');
      await mkdir(root);
      await mkdir(outside);
      const w = new FsWriter(root, newWarnings(), silentLogger);
      await w.write(entry('ln', { type: 'symlink', linkname: outside }));
      await w.write(entry('ln/evil', {}, 'evil'));
      await w.write(entry('ln/deeper/evil', {}, 'evil'));
      await w.finish();
      expect(w.refused.map((r) => r.path)).toEqual(['ln/evil', 'ln/deeper/evil']);
      expect(w.refused[0]!.reason).toMatch(/symlink ln/);
      expect(await readdir(outside)).toEqual([]);
      expect((await lstat(join(root, 'ln'))).isSymbolicLink()).toBe(true);
    }));

  test('a symlink already in the restore folder is not followed either', () =>
    withTempDir('fsw', async (dir) => {
      const root = join(dir, 'root');
      const outside = join(dir, 'outside');
      await mkdir(root);
      await mkdir(outside);
      await symlink(outside, join(root, 'pre'));
      const w = new FsWriter(root, newWarnings(), silentLogger);
      await w.write(entry('pre/evil', {}, 'evil'));
      expect(w.refused.map((r) => r.path)).toEqual(['pre/evil']);
      expect(await readdir(outside)).toEqual([]);
    }));

  test('a path through a regular file is refused', () =>
    withTempDir('fsw', async (dir) => {
      const w = new FsWriter(dir, newWarnings(), silentLogger);
      await w.write(entry('f', {}, 'file'));
      await w.write(entry('f/x', {}, 'x'));
      expect(w.refused.map((r) => [r.path, r.reason])).toEqual([['f/x', 'leads through f, which is not a directory']]);
    }));

  // FsWriter reuses the folder of the entry before when a name starts with the same folder part:
  // these sequences would put a file in the wrong place, or let a bad name through, if it did so wrongly.
  test('names that share a folder part with the entry before are placed and checked like any other', () =>
    withTempDir('fsw', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      const w = new FsWriter(root, newWarnings(), silentLogger);
      await w.write(entry('a/b/.', { type: 'directory', mode: 0o755 }));
      for (const p of ['a/b/c', 'x//y', 'x/z', 'x/..', 'x/n\0ul', 'x/../../up', 'a/b/c/d']) await w.write(entry(p, {}, p));
      await w.finish();
      expect(w.refused.map((r) => [r.path, r.reason])).toEqual([
        ['x/..', 'path contains ..'],
        ['x/n\0ul', 'name contains a NUL byte'],
        ['x/../../up', 'path contains ..'],
        ['a/b/c/d', 'leads through a/b/c, which is not a directory'],
      ]);
      expect(await entriesOf(dir)).toEqual(['root', 'root/a', 'root/a/b', 'root/a/b/c', 'root/x', 'root/x/y', 'root/x/z']);
      expect(await readFile(join(root, 'a/b/c'), 'utf8')).toBe('a/b/c');
      expect(await readFile(join(root, 'x/z'), 'utf8')).toBe('x/z');
    }));

  test('hardlinks must point at a regular file inside the folder', () =>
    withTempDir('fsw', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      await writeFile(join(dir, 'outside'), 'outside');
      const warnings = newWarnings();
      const w = new FsWriter(root, warnings, silentLogger);
      await w.write(entry('file', {}, 'content'));
      await w.write(entry('sym', { type: 'symlink', linkname: 'file' }));
      await w.write(entry('good', { type: 'link', linkname: 'file' }));
      await w.write(entry('up', { type: 'link', linkname: '../outside' }));
      await w.write(entry('abs', { type: 'link', linkname: join(dir, 'outside') }));
      await w.write(entry('to-sym', { type: 'link', linkname: 'sym' }));
      await w.write(entry('missing', { type: 'link', linkname: 'not-there' }));
      await w.finish();
      expect((await lstat(join(root, 'good'))).ino).toBe((await lstat(join(root, 'file'))).ino);
      expect(w.refused.map((r) => r.path)).toEqual(['up', 'abs', 'to-sym']);
      expect(warnings.kept.map((x) => [x.code, x.path])).toEqual([['hardlink-target-missing', 'missing']]);
      expect((await lstat(join(dir, 'outside'))).nlink).toBe(1);
    }));

  test('a file or link does not replace a directory', () =>
    withTempDir('fsw', async (dir) => {
      const w = new FsWriter(dir, newWarnings(), silentLogger);
      await w.write(entry('d', { type: 'directory', mode: 0o755 }));
      await w.write(entry('d/inner', {}, 'x'));
      await w.write(entry('d', {}, 'file over dir'));
      await w.write(entry('d', { type: 'symlink', linkname: 'elsewhere' }));
      await w.finish();
      expect(w.refused.map((r) => r.reason)).toEqual(['a directory of that name is already there', 'a directory of that name is already there']);
      expect((await lstat(join(dir, 'd'))).isDirectory()).toBe(true);
      expect(await entriesOf(dir)).toEqual(['d', 'd/inner']);
    }));
});

describe('FsWriter writes files whole or not at all', () => {
  test('content, mode and time; an existing file is replaced', () =>
    withTempDir('fsw', async (dir) => {
      await writeFile(join(dir, 'f'), 'old content');
      const w = new FsWriter(dir, newWarnings(), silentLogger);
      const body = seededRandom(1).bytes(100_000);
      await w.write(entry('f', { mode: 0o640, mtime: new Date(1_500_000_000_000), pax: { mtime: '1500000000.25' } }, body, { sha256: sha(body), size: body.length }));
      await w.write(entry('sub/dir/g', { mode: 0o600 }, 'g'));
      await w.write(entry('sub', { type: 'directory', mode: 0o750, mtime: new Date(1_400_000_000_000) }));
      await w.finish();
      expect((await readFile(join(dir, 'f'))).equals(body)).toBe(true);
      const st = await lstat(join(dir, 'f'));
      expect(st.mode & 0o7777).toBe(0o640);
      expect(Math.round(st.mtimeMs)).toBe(1_500_000_000_250);
      expect((await lstat(join(dir, 'sub'))).mode & 0o7777).toBe(0o750);
      expect((await lstat(join(dir, 'sub'))).mtimeMs).toBe(1_400_000_000_000);
      expect(w.files).toBe(2);
      expect(w.bytes).toBe(body.length + 1);
      expect(await entriesOf(dir)).toEqual(['f', 'sub', 'sub/dir', 'sub/dir/g']); // no temporary names left
    }));

  test('content that does not match the catalog fails, leaving neither the file nor a temporary', () =>
    withTempDir('fsw', async (dir) => {
      // The check runs where the file is written; its failure comes out of the next write or of finish().
      const failureOf = async (e: ArchiveEntry) => {
        const w = new FsWriter(dir, newWarnings(), silentLogger);
        return Promise.resolve(w.write(e)).then(() => w.finish()).then(() => undefined, (err: unknown) => err);
      };
      const err = await failureOf(entry('bad', {}, 'tampered', { sha256: sha('original'), size: 8 }));
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).code).toBe('file-hash-mismatch');
      expect((err as IntegrityError).where.path).toBe('bad');
      const err2 = await failureOf(entry('short', {}, 'abc', { sha256: sha('abc'), size: 4 }));
      expect((err2 as IntegrityError).code).toBe('file-hash-mismatch');
      expect(await entriesOf(dir)).toEqual([]);
    }));

  test('the archive root entry (".") is the restore folder itself', () =>
    withTempDir('fsw', async (dir) => {
      const w = new FsWriter(dir, newWarnings(), silentLogger);
      await w.write(entry('.', { type: 'directory' }));
      await w.write(entry('', { type: 'directory' }));
      expect(w.refused).toEqual([]);
      expect(await entriesOf(dir)).toEqual([]);
    }));
});

function cat(path: string, offset: number, size: number): CatalogEntry {
  // one 512-byte header, then the data
  return { path, type: 'file', size, mode: 0o644, mtime: 0, uid: 0, gid: 0, offset, end: offset + 512 + size };
}

describe('RangeBuilder', () => {
  test('paddedEnd rounds up to a 512-byte block', () => {
    expect(paddedEnd(cat('a', 0, 0))).toBe(512);
    expect(paddedEnd(cat('a', 0, 1))).toBe(1024);
    expect(paddedEnd(cat('a', 0, 512))).toBe(1024);
    expect(paddedEnd(cat('a', 0, 513))).toBe(1536);
    expect(paddedEnd(cat('a', 1024, 10))).toBe(2048);
  });

  test('adjacent entries merge, gaps start a new range', () => {
    // a tar of five consecutive entries
    const sizes = [10, 0, 600, 512, 3];
    const all: CatalogEntry[] = [];
    let at = 0;
    for (const [i, s] of sizes.entries()) {
      const e = cat(`e${i}`, at, s);
      all.push(e);
      at = paddedEnd(e);
    }
    const pick = (idx: number[]) => {
      const b = new RangeBuilder();
      for (const i of idx) b.add(all[i]!);
      return b.ranges;
    };
    expect(pick([0, 1, 2, 3, 4])).toEqual([{ start: 0, end: at }]);
    expect(pick([0, 1, 3])).toEqual([{ start: 0, end: paddedEnd(all[1]!) }, { start: all[3]!.offset, end: paddedEnd(all[3]!) }]);
    expect(pick([1, 2, 4])).toEqual([{ start: all[1]!.offset, end: paddedEnd(all[2]!) }, { start: all[4]!.offset, end: at }]);
    expect(pick([4])).toEqual([{ start: all[4]!.offset, end: at }]);
    expect(pick([])).toEqual([]);
  });

  test('ranges are sorted and disjoint for any selection', () => {
    const rnd = seededRandom(3);
    const all: CatalogEntry[] = [];
    let at = 0;
    for (let i = 0; i < 200; i++) {
      const e = cat(`e${i}`, at, rnd.int(3000));
      all.push(e);
      at = paddedEnd(e);
    }
    for (let round = 0; round < 50; round++) {
      const chosen = all.filter(() => rnd.next() < 0.4);
      const b = new RangeBuilder();
      chosen.forEach((e) => b.add(e));
      // every chosen byte is covered, every range starts at a chosen entry
      for (const e of chosen) expect(b.ranges.some((r) => r.start <= e.offset && paddedEnd(e) <= r.end)).toBe(true);
      b.ranges.forEach((r, i) => {
        expect(chosen.some((e) => e.offset === r.start)).toBe(true);
        if (i > 0) expect(r.start).toBeGreaterThan(b.ranges[i - 1]!.end);
      });
      const covered = b.ranges.reduce((n, r) => n + r.end - r.start, 0);
      expect(covered).toBe(chosen.reduce((n, e) => n + paddedEnd(e) - e.offset, 0));
    }
  });
});

/** Volume records as the volume writer makes them: each volume ends with one end chunk. */
function layout(dataChunks: number[]): VolumeRecord[] {
  let next = 0;
  return dataChunks.map((n, i) => {
    const v = { index: i + 1, name: `volume-${String(i + 1).padStart(6, '0')}`, size: 0, sha256: '', firstChunk: next, dataChunks: n };
    next += n + 1;
    return v;
  });
}

describe('tar chunks and volumes', () => {
  test('boundaries of a three-volume set', () => {
    const v = layout([3, 2, 1]);
    expect(v.map((x) => x.firstChunk)).toEqual([0, 4, 7]);
    expect(v.map(firstTarChunk)).toEqual([0, 3, 5]);
    const expected = [1, 1, 1, 2, 2, 3];
    expected.forEach((index, k) => expect(volumeOfTarChunk(v, k)?.index, `tar chunk ${k}`).toBe(index));
    expect(volumeOfTarChunk(v, 6)).toBeUndefined();
    expect(volumeOfTarChunk(v, -1)).toBeUndefined();
    expect(tarChunkToGlobal(v[0]!, 2)).toBe(2);
    expect(tarChunkToGlobal(v[1]!, 3)).toBe(4);
    expect(tarChunkToGlobal(v[2]!, 5)).toBe(7);
  });

  test('an empty set: one volume without data chunks', () => {
    const v = layout([0]);
    expect(volumeOfTarChunk(v, 0)).toBeUndefined();
  });

  test('matches a linear scan for random layouts', () => {
    const rnd = seededRandom(9);
    for (let round = 0; round < 200; round++) {
      const counts = Array.from({ length: 1 + rnd.int(12) }, () => 1 + rnd.int(5));
      const v = layout(counts);
      const total = counts.reduce((a, b) => a + b, 0);
      let k = 0;
      for (const vol of v) {
        for (let j = 0; j < vol.dataChunks; j++, k++) {
          expect(volumeOfTarChunk(v, k)).toBe(vol);
          // the global index a reader meets it at, between the volume's first chunk and its end chunk
          const g = tarChunkToGlobal(vol, k);
          expect(g).toBeGreaterThanOrEqual(vol.firstChunk);
          expect(g).toBeLessThan(vol.firstChunk + vol.dataChunks);
        }
      }
      expect(k).toBe(total);
      expect(volumeOfTarChunk(v, total)).toBeUndefined();
    }
  });

  test('an entry maps to the volumes holding its bytes', () => {
    // chunk size 4096; volumes hold 3, 2 and 1 tar chunks
    const v = layout([3, 2, 1]);
    const size = 4096;
    const e = cat('spans', 3 * size - 100, 2 * size); // starts in volume 1, ends in volume 3
    const first = Math.floor(e.offset / size);
    const last = Math.floor((paddedEnd(e) - 1) / size);
    const volumes = new Set<number>();
    for (let k = first; k <= last; k++) volumes.add(volumeOfTarChunk(v, k)!.index);
    expect([...volumes]).toEqual([1, 2, 3]);
  });
});

describe('includeFilter', () => {
  const paths = ['etc', 'etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/.hidden', 'etc/sshd', 'home/a/x.txt', 'home/a/b/y.txt', 'x.txt'];
  const matching = (globs: string[]) => paths.filter(includeFilter(globs));

  test('no globs: everything', () => {
    expect(matching([])).toEqual(paths);
  });

  test.each([
    [['etc/ssh/**'], ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/.hidden']],
    [['/etc/ssh/**'], ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/.hidden']], // a leading '/' is the archive root
    [['etc/ssh'], ['etc/ssh']],
    [['etc/ssh/'], ['etc/ssh']],
    [['**/*.txt'], ['home/a/x.txt', 'home/a/b/y.txt', 'x.txt']],
    [['home/*/*.txt'], ['home/a/x.txt']],
    [['etc/ssh/*', 'x.txt'], ['etc/ssh/sshd_config', 'etc/ssh/.hidden', 'x.txt']],
    [['nothing/**'], []],
  ])('%j', (globs, want) => {
    expect(matching(globs)).toEqual(want);
  });
});

describe('untar against the catalog', () => {
  async function smallTar(dir: string) {
    await mkdir(join(dir, 't'));
    await writeFile(join(dir, 't', 'a'), 'a');
    await writeFile(join(dir, 't', 'b'), 'b');
    const warnings = newWarnings();
    const catalog: CatalogEntry[] = [];
    const tar = await collect(tarStream(walk([join(dir, 't')], { excludes: [], warnings }), { warnings, onEntry: (e) => void catalog.push(e) }));
    return { tar, catalog };
  }
  const drainAll = async (tar: Buffer, catalog: CatalogEntry[]) => {
    const seen: string[] = [];
    for await (const e of untar((async function* () { yield tar; })(), cursorOf((async function* () { yield* catalog; })()))) {
      seen.push(e.path);
      for await (const _ of e.body) void _;
    }
    return seen;
  };

  test('entries pair with their catalog records', () =>
    withTempDir('untar', async (dir) => {
      const { tar, catalog } = await smallTar(dir);
      expect(await drainAll(tar, catalog)).toEqual(catalog.map((e) => e.path));
    }));

  test.each([
    ['a record renamed', (c: CatalogEntry[]) => c.map((e, i) => (i === 1 ? { ...e, path: `${e.path}x` } : e))],
    ['a record missing', (c: CatalogEntry[]) => c.filter((_, i) => i !== 1)],
    ['a record too many', (c: CatalogEntry[]) => [...c, { ...c[1]!, path: 'extra' }]],
  ])('%s is a catalog mismatch', (_name, edit) =>
    withTempDir('untar', async (dir) => {
      const { tar, catalog } = await smallTar(dir);
      const err = await drainAll(tar, edit(catalog)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).code).toBe('catalog-mismatch');
    }));
});
