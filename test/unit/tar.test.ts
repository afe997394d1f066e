// backup/walk + backup/tar on a real temporary tree. The produced bytes are
// read back with an independent parser (tar-parse.ts): every catalog entry's
// offset is its first header and `end` is where its data ends; file hashes
// match; files that shrink or grow while read still give a valid archive and
// a warning; sizes of 8 GiB and more get a PAX size record.
import { createHash } from 'node:crypto';
import { chmod, link, lstat, mkdir, open, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { looksIncompressible } from '../../src/backup/compress.js';
import { READ_AHEAD } from '../../src/backup/read-ahead.js';
import { tarStream } from '../../src/backup/tar.js';
import { archivePathOf, checkSources, walk } from '../../src/backup/walk.js';
import type { WalkEntry } from '../../src/backup/walk.js';
import { UsageError } from '../../src/errors.js';
import type { CatalogEntry } from '../../src/format/catalog.js';
import { paddedEnd } from '../../src/restore/plan.js';
import { untar } from '../../src/restore/untar.js';
import { collect, cursorOf, newWarnings, seededRandom, withTempDir } from './helpers.js';
import { isZeroBlock, padded, parseAll, parseEntryAt } from './tar-parse.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const TYPEFLAG: Record<CatalogEntry['type'], string> = {
  file: '0',
  directory: '5',
  symlink: '2',
  hardlink: '1',
  fifo: '6',
  'char-device': '3',
  'block-device': '4',
};

/** Builds a tree with every kind of entry coffer archives. */
async function buildTree(root: string): Promise<void> {
  const rnd = seededRandom(42);
  await mkdir(join(root, 'dir', 'sub'), { recursive: true });
  await mkdir(join(root, 'empty'));
  // Up to 1 MiB files are read whole ahead of the tar; larger ones are streamed in parts.
  for (const size of [0, 1, 511, 512, 513, 1024, 70_000, 1024 * 1024, 2.5 * 1024 * 1024 + 3]) await writeFile(join(root, 'dir', `f${size}`), rnd.bytes(size));
  await utimes(join(root, 'dir', 'f0'), 1_600_000_000, 1_600_000_000); // whole seconds: no PAX header needed
  await writeFile(join(root, 'dir', 'sub', 'deep.txt'), 'deep\n');
  await writeFile(join(root, 'ünïcødé ✓.txt'), 'non-ascii name\n');
  await writeFile(join(root, `${'long-name-'.repeat(15)}.bin`), rnd.bytes(777));
  const longDir = join(root, 'd'.repeat(90), 'e'.repeat(90));
  await mkdir(longDir, { recursive: true });
  await writeFile(join(longDir, 'f'.repeat(80)), 'long path\n');
  await symlink('dir/f1', join(root, 'link-rel'));
  await symlink(`/nonexistent/${'t'.repeat(150)}`, join(root, 'link-long-dangling'));
  await writeFile(join(root, 'hard-a'), 'shared inode\n');
  await link(join(root, 'hard-a'), join(root, 'hard-b'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  await writeFile(join(root, 'mode-4755'), '#!/bin/sh\n', { mode: 0o755 });
  await chmod(join(root, 'mode-4755'), 0o4755);
  // sub-second mtime, to the nanosecond (coffer keeps milliseconds)
  execFileSync('touch', ['-m', '-d', '@1700000000.123456789', join(root, 'dir', 'f1')]);
}

function sortedNames(names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function pack(sources: string[], excludes: string[] = []) {
  const warnings = newWarnings();
  const catalog: CatalogEntry[] = [];
  const tar = await collect(tarStream(walk(sources, { excludes, warnings }), { warnings, onEntry: (e) => void catalog.push(e) }));
  return { tar, catalog, warnings };
}

async function packEntries(entries: WalkEntry[]) {
  const warnings = newWarnings();
  const catalog: CatalogEntry[] = [];
  const tar = await collect(tarStream((async function* () { yield* entries; })(), { warnings, onEntry: (e) => void catalog.push(e) }));
  await expectRestoreAccepts(tar, catalog);
  return { tar, catalog, warnings };
}

/** Restore's reader checks every header against its catalog record (restore/entry-meta.ts): what the backup writes must pass. */
async function expectRestoreAccepts(tar: Buffer, catalog: CatalogEntry[]): Promise<void> {
  let n = 0;
  for await (const e of untar((async function* () { yield tar; })(), cursorOf((async function* () { yield* catalog; })()))) {
    for await (const _ of e.body) void _;
    n++;
  }
  expect(n).toBe(catalog.length);
}

/** A walk entry for a real file whose stat is overridden (a size that no longer holds, an owner id beyond ustar). */
async function fakeEntry(path: string, over: Partial<Stats>): Promise<WalkEntry> {
  const st = await lstat(path);
  const fake = Object.assign(Object.create(Object.getPrototypeOf(st) as object) as Stats, st, over);
  return { absPath: path, archivePath: archivePathOf(path), type: 'file', stat: fake };
}

describe('tar offsets and catalog', () => {
  test('every entry: offset is its first header, end is where its data ends, hashes match', () =>
    withTempDir('tar', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      await buildTree(root);
      const { tar, catalog, warnings } = await pack([root]);
      expect(warnings.count).toBe(0);
      expect(tar.length % 512).toBe(0);
      await expectRestoreAccepts(tar, catalog);

      const parsed = parseAll(tar);
      expect(parsed.length).toBe(catalog.length);
      let expectedOffset = 0;
      for (const [i, e] of catalog.entries()) {
        const h = parseEntryAt(tar, e.offset);
        expect(e.offset, e.path).toBe(expectedOffset); // contiguous, nothing between entries
        expect(h.offset).toBe(parsed[i]!.offset);
        expect(h.name, e.path).toBe(e.type === 'directory' ? `${e.path}/` : e.path);
        expect(h.typeflag, e.path).toBe(TYPEFLAG[e.type]);
        expect(h.size, e.path).toBe(e.size);
        expect(e.end, e.path).toBe(h.dataEnd);
        expect(paddedEnd(e), e.path).toBe(h.next);
        expect(h.mode, e.path).toBe(e.mode);
        expect(h.uid).toBe(e.uid);
        expect(h.gid).toBe(e.gid);
        expect(h.mtime, e.path).toBeCloseTo(e.mtime, 3);
        if (e.link !== undefined) expect(h.linkname, e.path).toBe(e.link);
        if (e.type === 'file') {
          const abs = `/${e.path}`;
          const content = await readFile(abs);
          expect(e.size).toBe(content.length);
          expect(tar.subarray(h.dataStart, e.end).equals(content), e.path).toBe(true);
          expect(e.sha256, e.path).toBe(sha256(content));
          // padding is zeros
          expect(isZeroBlock(Buffer.concat([tar.subarray(e.end, h.next), Buffer.alloc(512 - (h.next - e.end))]), 0)).toBe(true);
        } else {
          expect(e.sha256).toBeUndefined();
          expect(e.end).toBe(h.dataStart);
        }
        expectedOffset = h.next;
      }
      // after the last entry: exactly the two zero blocks
      expect(tar.length).toBe(expectedOffset + 1024);
    }));

  test('walk order, types, links, PAX records where ustar falls short', () =>
    withTempDir('tar', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      await buildTree(root);
      const { tar, catalog } = await pack([root]);
      const rel = (e: CatalogEntry) => e.path.slice(archivePathOf(root).length + 1);
      const paths = catalog.map(rel);
      // Depth first, names in byte order, but for the small files that look incompressible (random bytes here).
      expect(paths[0]).toBe('');
      const byName = new Map(catalog.map((e) => [rel(e), e]));
      const small = (p: string) => byName.get(p)!.type === 'file' && byName.get(p)!.size <= READ_AHEAD.smallFile;
      const dense = (p: string) => small(p) && looksIncompressible(readFileSync(join(root, p)));
      expect(paths.filter((p) => !dense(p))).toEqual(sortedNames(paths.filter((p) => !dense(p))));
      // Each of those comes after the small files that follow it in the walk, and before anything else that does.
      const walkOrder = sortedNames(paths);
      for (const p of paths.filter(dense)) {
        const nextOther = walkOrder.slice(walkOrder.indexOf(p) + 1).find((q) => !small(q));
        if (nextOther !== undefined) expect(paths.indexOf(p), p).toBeLessThan(paths.indexOf(nextOther));
        for (const q of walkOrder.slice(walkOrder.indexOf(p) + 1, nextOther === undefined ? undefined : walkOrder.indexOf(nextOther))) {
          if (!dense(q)) expect(paths.indexOf(p), `${p} after ${q}`).toBeGreaterThan(paths.indexOf(q));
        }
      }
      expect(paths.indexOf(`${'long-name-'.repeat(15)}.bin`)).toBeGreaterThan(paths.indexOf('mode-4755')); // moved, not only allowed to be
      expect(byName.get('dir')?.type).toBe('directory');
      expect(byName.get('empty')?.type).toBe('directory');
      expect(byName.get('link-rel')).toMatchObject({ type: 'symlink', link: 'dir/f1', size: 0 });
      expect(byName.get('hard-a')).toMatchObject({ type: 'file', size: 13 });
      expect(byName.get('hard-b')).toMatchObject({ type: 'hardlink', link: byName.get('hard-a')!.path, size: 0 });
      expect(byName.get('fifo')?.type).toBe('fifo');
      expect(byName.get('mode-4755')?.mode).toBe(0o4755);

      const f1 = byName.get('dir/f1')!;
      expect(f1.mtime).toBe(1_700_000_000.123);
      const h1 = parseEntryAt(tar, f1.offset);
      expect(h1.pax.mtime).toBe('1700000000.123');

      for (const name of ['ünïcødé ✓.txt', `${'long-name-'.repeat(15)}.bin`]) {
        const h = parseEntryAt(tar, byName.get(name)!.offset);
        expect(h.pax.path, name).toBe(byName.get(name)!.path);
      }
      const dangling = parseEntryAt(tar, byName.get('link-long-dangling')!.offset);
      expect(dangling.pax.linkpath).toBe(`/nonexistent/${'t'.repeat(150)}`);
      // A plain short ASCII name needs no PAX header.
      expect(parseEntryAt(tar, byName.get('dir/f0')!.offset).pax).toEqual({});
    }));

  test('excludes and nested sources', () =>
    withTempDir('tar', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      await buildTree(root);
      const { catalog } = await pack([root], ['*.bin', 'sub']);
      const names = catalog.map((e) => e.path);
      expect(names.some((n) => n.endsWith('.bin'))).toBe(false);
      expect(names.some((n) => n.includes('/sub'))).toBe(false);
      expect(names.some((n) => n.endsWith('/dir/f1'))).toBe(true);

      expect(await checkSources([root, join(root, 'dir'), root])).toEqual([root]);
      await expect(checkSources([join(dir, 'missing')])).rejects.toMatchObject({ code: 'source-missing' });
      await expect(checkSources([join(dir, 'missing')])).rejects.toBeInstanceOf(UsageError);
      await expect(checkSources(['/'])).rejects.toMatchObject({ code: 'source-root' });
    }));

  test('a socket is skipped with a warning', () =>
    withTempDir('tar', async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      await writeFile(join(root, 'a'), 'a');
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
      try {
        const { tar, catalog, warnings } = await pack([root]);
        expect(catalog.map((e) => e.path.split('/').pop())).toEqual(['root', 'a']);
        expect(warnings.kept.map((w) => w.code)).toEqual(['source-unsupported']);
        expect(parseAll(tar).length).toBe(2);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }));
});

describe('files that change while read', () => {
  test('a file that shrank is padded to its header size, with a warning', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'shrinks');
      const content = Buffer.from(seededRandom(5).bytes(1500).toString('hex')); // text: archived in walk order
      await writeFile(path, content);
      await writeFile(join(dir, 'after'), 'after\n');
      const entries = [await fakeEntry(path, { size: 5000 }), await fakeEntry(join(dir, 'after'), {})];
      const { tar, catalog, warnings } = await packEntries(entries);
      expect(warnings.kept.map((w) => [w.code, w.path])).toEqual([['source-changed', path]]);
      expect(warnings.kept[0]!.message).toMatch(/shrank/);
      const [e, after] = catalog;
      expect(e!.size).toBe(5000);
      const h = parseEntryAt(tar, e!.offset);
      expect(h.size).toBe(5000);
      const archived = tar.subarray(h.dataStart, h.dataEnd);
      expect(archived.subarray(0, 3000).equals(content)).toBe(true);
      expect(archived.subarray(3000).every((b) => b === 0)).toBe(true);
      expect(e!.sha256).toBe(sha256(archived)); // the hash is of what was archived
      expect(after!.offset).toBe(h.next);
      expect(parseAll(tar).map((x) => x.size)).toEqual([5000, 6]);
    }));

  test('a file that grew is cut at its header size, with a warning', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'grows');
      const content = Buffer.from(seededRandom(6).bytes(1500).toString('hex'));
      await writeFile(path, content);
      await writeFile(join(dir, 'after'), 'after\n');
      const entries = [await fakeEntry(path, { size: 1000 }), await fakeEntry(join(dir, 'after'), {})];
      const { tar, catalog, warnings } = await packEntries(entries);
      expect(warnings.kept.map((w) => [w.code, w.path])).toEqual([['source-changed', path]]);
      const [e, after] = catalog;
      const h = parseEntryAt(tar, e!.offset);
      expect(h.size).toBe(1000);
      expect(tar.subarray(h.dataStart, h.dataEnd).equals(content.subarray(0, 1000))).toBe(true);
      expect(e!.sha256).toBe(sha256(content.subarray(0, 1000)));
      expect(after!.offset).toBe(h.next);
      expect(parseAll(tar).length).toBe(2);
    }));

  test('a file that vanished is skipped with a warning', () =>
    withTempDir('tar', async (dir) => {
      await writeFile(join(dir, 'gone'), 'x');
      await writeFile(join(dir, 'kept'), 'kept');
      const entries = [await fakeEntry(join(dir, 'gone'), {}), await fakeEntry(join(dir, 'kept'), {})];
      entries[0]!.absPath = join(dir, 'gone-now');
      const { tar, catalog, warnings } = await packEntries(entries);
      expect(warnings.kept.map((w) => w.code)).toEqual(['source-vanished']);
      expect(catalog.map((e) => e.path)).toEqual([archivePathOf(join(dir, 'kept'))]);
      expect(catalog[0]!.offset).toBe(0);
      expect(parseAll(tar).length).toBe(1);
    }));

  // Files over 1 MiB are streamed in 1 MiB parts read ahead: the same outcomes, with the change mid-file.
  test('a large file that shrank is padded with zeros from where it ended, with a warning', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'shrinks');
      const content = seededRandom(7).bytes(2.5 * 1024 * 1024);
      await writeFile(path, content);
      await writeFile(join(dir, 'after'), 'after\n');
      const size = 5 * 1024 * 1024 + 7;
      const { tar, catalog, warnings } = await packEntries([await fakeEntry(path, { size }), await fakeEntry(join(dir, 'after'), {})]);
      expect(warnings.kept.map((w) => [w.code, w.path])).toEqual([['source-changed', path]]);
      expect(warnings.kept[0]!.message).toMatch(/shrank/);
      const [e, after] = catalog;
      const h = parseEntryAt(tar, e!.offset);
      expect(h.size).toBe(size);
      const archived = tar.subarray(h.dataStart, h.dataEnd);
      expect(archived.subarray(0, content.length).equals(content)).toBe(true);
      expect(archived.subarray(content.length).every((b) => b === 0)).toBe(true);
      expect(e!.sha256).toBe(sha256(archived));
      expect(after!.offset).toBe(h.next);
    }));

  test('a large file that grew is cut at its header size, with a warning', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'grows');
      const content = seededRandom(8).bytes(3 * 1024 * 1024);
      await writeFile(path, content);
      const size = 2 * 1024 * 1024 + 5;
      const { tar, catalog, warnings } = await packEntries([await fakeEntry(path, { size }), await fakeEntry(path, {})]);
      expect(warnings.kept.map((w) => [w.code, w.path])).toEqual([['source-changed', path]]);
      const [cut, whole] = catalog;
      const h = parseEntryAt(tar, cut!.offset);
      expect(tar.subarray(h.dataStart, h.dataEnd).equals(content.subarray(0, size))).toBe(true);
      expect(cut!.sha256).toBe(sha256(content.subarray(0, size)));
      // The same file again, whole: nothing of the first stream leaks into the second.
      const w = parseEntryAt(tar, whole!.offset);
      expect(tar.subarray(w.dataStart, w.dataEnd).equals(content)).toBe(true);
      expect(whole!.sha256).toBe(sha256(content));
    }));

  test('a large file whose read fails is archived as zeros from there, with a warning that says why', () =>
    withTempDir('tar', async (dir) => {
      await mkdir(join(dir, 'was-a-file'));
      await writeFile(join(dir, 'after'), 'after\n');
      const size = 2 * 1024 * 1024;
      const { tar, catalog, warnings } = await packEntries([await fakeEntry(join(dir, 'was-a-file'), { size, mode: 0o100644 }), await fakeEntry(join(dir, 'after'), {})]);
      expect(warnings.kept.map((w) => w.code)).toEqual(['source-changed']);
      expect(warnings.kept[0]!.message).toMatch(/read failed \(is a directory\)/);
      const h = parseEntryAt(tar, catalog[0]!.offset);
      expect(h.size).toBe(size);
      expect(tar.subarray(h.dataStart, h.dataEnd).every((b) => b === 0)).toBe(true);
      expect(catalog[0]!.sha256).toBe(sha256(Buffer.alloc(size)));
      expect(catalog[1]!.offset).toBe(h.next);
    }));

  test('a modified mtime alone is a warning', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'touched');
      await writeFile(path, 'same size');
      const { warnings } = await packEntries([await fakeEntry(path, { mtimeMs: (await stat(path)).mtimeMs - 5000 })]);
      expect(warnings.kept.map((w) => w.code)).toEqual(['source-changed']);
    }));
});

describe('header encoding beyond ustar', () => {
  test('a file of 8 GiB or more gets a PAX size record (header bytes only)', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'huge');
      const SIZE = 9 * 1024 ** 3 + 5;
      const fh = await open(path, 'w');
      await fh.truncate(SIZE); // sparse: costs no disk
      await fh.close();
      const warnings = newWarnings();
      const got: Buffer[] = [];
      let length = 0;
      // Take only the headers and the first bytes of data, then stop: never read 9 GiB.
      for await (const b of tarStream(walk([path], { excludes: [], warnings }), { warnings, onEntry: () => {} })) {
        got.push(b);
        length += b.length;
        if (length >= 4096) break;
      }
      const head = Buffer.concat(got);
      const h = parseEntryAt(head, 0);
      expect(h.pax.size).toBe(String(SIZE));
      expect(h.size).toBe(SIZE);
      expect(h.name).toBe(archivePathOf(path));
      // The ustar size field cannot hold it in octal: base-256 (GNU) or all-sevens; readers use the PAX record.
      expect(h.rawSize[0]! & 0x80 || h.rawSize.toString('latin1').startsWith('77777777777')).toBeTruthy();
    }));

  test('just under 8 GiB needs no PAX header', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'big');
      await writeFile(path, 'x');
      await utimes(path, 1_600_000_000, 1_600_000_000);
      const entry = await fakeEntry(path, { size: 8 * 1024 ** 3 - 1 });
      const warnings = newWarnings();
      const got: Buffer[] = [];
      for await (const b of tarStream((async function* () { yield entry; })(), { warnings, onEntry: () => {} })) {
        got.push(b);
        if (Buffer.concat(got).length >= 1024) break;
      }
      const h = parseEntryAt(Buffer.concat(got), 0);
      expect(h.pax).toEqual({});
      expect(h.size).toBe(8 * 1024 ** 3 - 1);
      expect(h.rawSize.toString('latin1')).toBe('77777777777 ');
    }));

  test('owner ids beyond ustar go to PAX records; the catalog keeps the real ids', () =>
    withTempDir('tar', async (dir) => {
      const path = join(dir, 'owned');
      await writeFile(path, 'content');
      const { tar, catalog } = await packEntries([await fakeEntry(path, { uid: 3_000_000, gid: 0o7777777 + 1 })]);
      const h = parseEntryAt(tar, 0);
      expect(h.pax.uid).toBe('3000000');
      expect(h.pax.gid).toBe(String(0o7777777 + 1));
      expect(catalog[0]).toMatchObject({ uid: 3_000_000, gid: 0o7777777 + 1 });
      expect(tar.subarray(h.dataStart, h.dataEnd).toString()).toBe('content');
    }));

  test('modification times before 1970 and after 2038 survive (PAX record, valid ustar field)', () =>
    withTempDir('tar', async (dir) => {
      const cases: [string, string, number][] = [
        ['y1960', '@-315619200', -315619200],
        ['y1969frac', '@-0.5', -0.5],
        ['y2038', '@2147483647', 2147483647],
        ['y2040', '@2208988800', 2208988800],
        ['y2040frac', '@2208988800.25', 2208988800.25],
      ];
      const entries: WalkEntry[] = [];
      for (const [name, touch] of cases) {
        await writeFile(join(dir, name), name);
        execFileSync('touch', ['-m', '-d', touch, join(dir, name)]);
        entries.push(await fakeEntry(join(dir, name), {}));
      }
      const { tar, catalog } = await packEntries(entries);
      for (const [i, [name, , secs]] of cases.entries()) {
        const h = parseEntryAt(tar, catalog[i]!.offset);
        expect(catalog[i]!.mtime, name).toBe(secs);
        expect(h.mtime, name).toBe(secs);
        if (secs === 2147483647) expect(h.pax.mtime).toBeUndefined();
        else expect(Number(h.pax.mtime), name).toBe(secs);
        // whatever the PAX record says, the ustar field is plain octal within its range
        const field = tar.subarray(h.dataStart - 512 + 136, h.dataStart - 512 + 148).toString('latin1');
        expect(field, name).toMatch(/^[0-7]{11}[ \0]$/);
        expect(parseInt(field, 8)).toBeLessThanOrEqual(2 ** 31 - 1);
      }
    }));

  test('whole-second and sub-second modification times', () =>
    withTempDir('tar', async (dir) => {
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      await writeFile(a, 'a');
      await writeFile(b, 'b');
      await utimes(a, 1_500_000_000, 1_500_000_000);
      await utimes(b, 1_500_000_000, 1_500_000_000.5);
      const { tar, catalog } = await packEntries([await fakeEntry(a, {}), await fakeEntry(b, {})]);
      const ha = parseEntryAt(tar, catalog[0]!.offset);
      const hb = parseEntryAt(tar, catalog[1]!.offset);
      expect(ha.pax.mtime).toBeUndefined();
      expect(ha.mtime).toBe(1_500_000_000);
      expect(hb.pax.mtime).toBe('1500000000.500');
      expect(catalog[1]!.mtime).toBe(1_500_000_000.5);
      expect(padded(1)).toBe(512);
    }));
});
