// backup/source-jobs through both readers: in-process, and on the source
// thread (only the compiled module has the thread script; npm test compiles
// first). lstat batches report each path's stat, symlink target or failure;
// read batches put each file's bytes at its offset in the shared memory and
// nowhere else, and say what happened to files that shrank, grew, vanished
// or cannot be read. Streams (large files) give their parts in the order
// asked, and the same account of what happened, also side by side. With two
// source threads, a read batch is split between them, and a thread held up
// in a call does not hold up the batches sent meanwhile.
import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { inProcessReader } from '../../src/backup/source-readers.js';
import type { SourceReader } from '../../src/backup/source-readers.js';
import { sourceReaders } from '../../dist/backup/source-readers.js';
import { seededRandom, withTempDir } from './helpers.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const thread = sourceReaders();
afterAll(() => thread.stop());

describe.each([
  ['in-process', inProcessReader],
  ['on the source thread', thread as SourceReader],
] as const)('source jobs, %s', (_name, reader) => {
  test('lstat: files, directories, fifos, symlinks with their targets; failures with their reason', () =>
    withTempDir('source', async (dir) => {
      await writeFile(join(dir, 'file'), 'twelve bytes');
      await mkdir(join(dir, 'dir'));
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      await symlink('file', join(dir, 'link'));
      await symlink('/nonexistent/target', join(dir, 'dangling'));
      const names = ['file', 'dir', 'fifo', 'link', 'dangling', 'missing'];
      const [file, d, fifo, link, dangling, missing] = await reader.lstat(names.map((n) => join(dir, n)));
      const real = await stat(join(dir, 'file'));
      expect(file).toEqual({ stat: { dev: real.dev, ino: real.ino, mode: real.mode, nlink: 1, uid: real.uid, gid: real.gid, rdev: real.rdev, size: 12, mtimeMs: real.mtimeMs } });
      const type = (r: typeof file) => ('stat' in r! ? r.stat.mode & constants.S_IFMT : undefined);
      expect(type(d)).toBe(constants.S_IFDIR);
      expect(type(fifo)).toBe(constants.S_IFIFO);
      expect(link).toMatchObject({ stat: { mode: expect.any(Number) }, link: 'file' });
      expect(type(link)).toBe(constants.S_IFLNK);
      expect(dangling).toMatchObject({ link: '/nonexistent/target' });
      expect(missing).toEqual({ failure: { code: 'ENOENT', reason: 'no such file or directory' } });
    }));

  test('read: each file at its offset, nothing written outside it; shrunk, grown, vanished, unreadable', () =>
    withTempDir('source', async (dir) => {
      const rnd = seededRandom(11);
      const whole = rnd.bytes(5000);
      await writeFile(join(dir, 'whole'), whole);
      await writeFile(join(dir, 'empty'), '');
      const shrunk = rnd.bytes(100);
      await writeFile(join(dir, 'shrunk'), shrunk);
      const grown = rnd.bytes(300);
      await writeFile(join(dir, 'grown'), grown);
      await appendFile(join(dir, 'grown'), 'more');
      await mkdir(join(dir, 'now-a-directory'));

      const memory = new SharedArrayBuffer(20_000);
      const view = Buffer.from(memory).fill(0xee);
      const files = ['whole', 'empty', 'shrunk', 'grown', 'vanished', 'now-a-directory'];
      const sizes = [5000, 0, 250, 300, 10, 64];
      const offsets = [100, 6000, 6000, 7000, 8000, 9000];
      const [w, e, s, g, v, d] = await reader.read(files.map((f) => join(dir, f)), sizes, offsets, memory);

      expect(w).toMatchObject({ length: 5000, sha256: sha256(whole), after: { size: 5000 } });
      expect(view.subarray(100, 5100).equals(whole)).toBe(true);
      expect(e).toMatchObject({ length: 0, sha256: sha256(Buffer.alloc(0)), after: { size: 0 } });
      // Shrunk: what there was, hashed with the zeros that will pad it to the size asked; no second look.
      expect(s).toEqual({ length: 100, sha256: sha256(Buffer.concat([shrunk, Buffer.alloc(150)])) });
      expect(view.subarray(6000, 6100).equals(shrunk)).toBe(true);
      // Grown: cut at the size asked; fstat shows the new size.
      expect(g).toMatchObject({ length: 300, sha256: sha256(grown), after: { size: 304 } });
      expect(view.subarray(7000, 7300).equals(grown)).toBe(true);
      expect(v).toEqual({ openFailure: { code: 'ENOENT', reason: 'no such file or directory' }, length: 0, sha256: '' });
      expect(d).toMatchObject({ length: 0, readFailure: { code: 'EISDIR', reason: 'is a directory' } });
      // Outside the files' bytes the memory is as it was.
      for (const [from, to] of [[0, 100], [5100, 6000], [6100, 7000], [7300, 20_000]] as const) {
        expect(view.subarray(from, to).every((b) => b === 0xee), `${from}..${to}`).toBe(true);
      }
    }));

  test('stream: parts land at their offsets in the order asked, hashed as read; the fstat after', () =>
    withTempDir('source', async (dir) => {
      const content = seededRandom(12).bytes(10_000);
      await writeFile(join(dir, 'large'), content);
      const memory = new SharedArrayBuffer(12_000);
      const view = Buffer.from(memory).fill(0xee);
      const opened = await reader.open(join(dir, 'large'));
      if (!('stream' in opened)) throw new Error('not opened');
      // All asked for before any is answered, as file-parts.ts does.
      const parts = await Promise.all([reader.part(opened.stream, 4000, memory, 8000), reader.part(opened.stream, 4000, memory, 0), reader.part(opened.stream, 2000, memory, 4000)]);
      expect(parts).toEqual([{ length: 4000 }, { length: 4000 }, { length: 2000 }]);
      expect(view.subarray(8000, 12_000).equals(content.subarray(0, 4000))).toBe(true);
      expect(view.subarray(0, 6000).equals(content.subarray(4000))).toBe(true);
      expect(view.subarray(6000, 8000).every((b) => b === 0xee)).toBe(true);
      expect(await reader.close(opened.stream, 10_000)).toEqual({ sha256: sha256(content), after: { size: 10_000, mtimeMs: (await stat(join(dir, 'large'))).mtimeMs } });
      await expect(reader.part(opened.stream, 10, memory, 0)).rejects.toThrow('not open');
    }));

  test('stream: a file that ends early comes short once, then gives nothing; its hash counts the zeros', () =>
    withTempDir('source', async (dir) => {
      const content = seededRandom(13).bytes(5000);
      await writeFile(join(dir, 'shrunk'), content);
      const memory = new SharedArrayBuffer(4000);
      const opened = await reader.open(join(dir, 'shrunk'));
      if (!('stream' in opened)) throw new Error('not opened');
      const parts = await Promise.all([0, 1, 2].map(() => reader.part(opened.stream, 2000, memory, 0)));
      expect(parts).toEqual([{ length: 2000 }, { length: 2000 }, { length: 1000 }]);
      // Appended after it came short: the stream has ended and reads no more.
      await appendFile(join(dir, 'shrunk'), 'late');
      expect(await reader.part(opened.stream, 2000, memory, 0)).toEqual({ length: 0 });
      expect(await reader.close(opened.stream, 8000)).toEqual({ sha256: sha256(Buffer.concat([content, Buffer.alloc(3000)])) });
    }));

  test('stream: open failures and read failures say why', () =>
    withTempDir('source', async (dir) => {
      await mkdir(join(dir, 'a-directory'));
      expect(await reader.open(join(dir, 'vanished'))).toEqual({ openFailure: { code: 'ENOENT', reason: 'no such file or directory' } });
      const opened = await reader.open(join(dir, 'a-directory'));
      if (!('stream' in opened)) throw new Error('not opened');
      const memory = new SharedArrayBuffer(100);
      expect(await reader.part(opened.stream, 100, memory, 0)).toEqual({ length: 0, readFailure: { code: 'EISDIR', reason: 'is a directory' } });
      expect(await reader.part(opened.stream, 100, memory, 0)).toEqual({ length: 0 });
      expect(await reader.close(opened.stream, 100)).toEqual({ sha256: sha256(Buffer.alloc(100)) });
    }));

  test('streams opened side by side each read their own file, parts interleaved', () =>
    withTempDir('source', async (dir) => {
      const rnd = seededRandom(15);
      const a = rnd.bytes(6000);
      const b = rnd.bytes(6000);
      await writeFile(join(dir, 'a'), a);
      await writeFile(join(dir, 'b'), b);
      const [sa, sb] = await Promise.all([reader.open(join(dir, 'a')), reader.open(join(dir, 'b'))]);
      if (!('stream' in sa) || !('stream' in sb)) throw new Error('not opened');
      const memory = new SharedArrayBuffer(12_000);
      const view = Buffer.from(memory);
      await Promise.all([
        reader.part(sa.stream, 3000, memory, 0),
        reader.part(sb.stream, 3000, memory, 6000),
        reader.part(sa.stream, 3000, memory, 3000),
        reader.part(sb.stream, 3000, memory, 9000),
      ]);
      expect(view.subarray(0, 6000).equals(a)).toBe(true);
      expect(view.subarray(6000, 12_000).equals(b)).toBe(true);
      expect((await reader.close(sb.stream, 6000)).sha256).toBe(sha256(b));
      expect((await reader.close(sa.stream, 6000)).sha256).toBe(sha256(a));
    }));
});

test('a closed source thread refuses further batches', async () => {
  const readers = sourceReaders();
  await readers.lstat(['/']);
  readers.stop();
  await expect(readers.lstat(['/'])).rejects.toThrow('closed');
});

describe('two source threads', () => {
  test('a read batch split between them puts every file at its offset, in the order asked', () =>
    withTempDir('source', async (dir) => {
      const rnd = seededRandom(14);
      const contents = Array.from({ length: 9 }, (_, i) => rnd.bytes(100 + 37 * i));
      const paths = contents.map((_, i) => join(dir, `f${i}`));
      await Promise.all(paths.map((p, i) => writeFile(p, contents[i]!)));
      const memory = new SharedArrayBuffer(4096);
      const view = Buffer.from(memory);
      const offsets = contents.map((_, i) => i * 400);
      const files = await thread.read(paths, contents.map((c) => c.length), offsets, memory);
      expect(files.map((f) => f.sha256)).toEqual(contents.map(sha256));
      contents.forEach((c, i) => expect(view.subarray(offsets[i], offsets[i]! + c.length).equals(c), `f${i}`).toBe(true));
    }));

  test('a thread held up in a call does not hold up the batches sent meanwhile', () =>
    withTempDir('source', async (dir) => {
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      await writeFile(join(dir, 'file'), 'content');
      const readers = sourceReaders();
      // Opening a FIFO to read waits for a writer: the thread that opens it is held there until one comes.
      const held = readers.open(fifo);
      try {
        const memory = new SharedArrayBuffer(16);
        const inTime = <T>(p: Promise<T>) => Promise.race([p, new Promise<'held up'>((resolve) => setTimeout(resolve, 5000, 'held up'))]);
        expect(await inTime(readers.lstat([dir]))).toMatchObject([{ stat: { mode: expect.any(Number) } }]);
        expect(await inTime(readers.read([join(dir, 'file')], [7], [0], memory))).toMatchObject([{ length: 7, sha256: sha256(Buffer.from('content')) }]);
      } finally {
        // The writer it waits for, whatever happened above, so no thread is left blocked.
        await (await open(fifo, 'w')).close();
        const opened = await held;
        if ('stream' in opened) await readers.close(opened.stream, 0);
        readers.stop();
      }
    }));
});
