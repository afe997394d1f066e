// targets/local-dir: a put large enough to be flushed to disk while it is
// written stores exactly its bytes; a flush that fails fails the put and
// leaves neither the object nor its temporary file. A get reads exactly the
// range asked, into buffers reused only once handed back, and closes its
// file however the reading ends.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LocalDirTarget } from '../../src/targets/local-dir.js';
import { withTempDir } from './helpers.js';

const MiB = 1024 * 1024;

/** 130 MiB and a bit, in 1 MiB pieces: past two background flushes. */
async function* pieces(): AsyncGenerator<Buffer> {
  for (let i = 0; i < 130; i++) yield Buffer.alloc(MiB, i);
  yield Buffer.from('the end');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('LocalDirTarget put', () => {
  test('a put flushed while it is written stores exactly its bytes', async () => {
    await withTempDir('local-flush', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false });
      const r = await target.put('set/volume-000001', pieces());
      const expected = createHash('sha256');
      for await (const p of pieces()) expected.update(p);
      expect(r.size).toBe(130 * MiB + 7);
      expect(sha(await readFile(join(dir, 'set', 'volume-000001')))).toBe(expected.digest('hex'));
      expect(await readdir(join(dir, 'set'))).toEqual(['volume-000001']);
    });
  });

  test('a background flush that fails fails the put and leaves nothing', async () => {
    await withTempDir('local-flush-fail', async (dir) => {
      const probe = await open(join(dir, 'probe'), 'w');
      const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
      await probe.close();
      const original = proto.datasync;
      proto.datasync = async () => {
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      };
      try {
        const target = await LocalDirTarget.open(dir, { create: false });
        await expect(target.put('set/volume-000001', pieces())).rejects.toThrow(/volume-000001/);
        expect((await readdir(dir)).sort()).toEqual(['probe']);
      } finally {
        proto.datasync = original;
      }
    });
  });
});

describe('LocalDirTarget get', () => {
  const content = Buffer.alloc(3 * MiB + 12_345);
  for (let i = 0; i + 4 <= content.length; i += 4) content.writeUInt32LE(i, i);
  const openFds = async () => (await readdir('/proc/self/fd')).length;

  test('whole objects and ranges come back exactly, in buffers handed back and read into again', async () => {
    await withTempDir('local-get', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false });
      await target.put('set/volume-000001', (async function* () { yield content; })());
      const everSeen = new Set<ArrayBufferLike>();
      for (const range of [undefined, { start: 0 }, { start: MiB - 3, end: 3 * MiB + 5 }, { start: 2 * MiB + 7, end: 2 * MiB + 9 }, { start: content.length }]) {
        const source = await target.get('set/volume-000001', range);
        const seen = new Set<ArrayBufferLike>();
        const got: Buffer[] = [];
        for await (const b of source) {
          // Copied before it is handed back: the source reads into it again.
          got.push(Buffer.from(b));
          seen.add(b.buffer);
          source.recycle?.(b);
        }
        const start = range?.start ?? 0;
        expect(Buffer.concat(got).equals(content.subarray(start, range && 'end' in range ? range.end : undefined)), JSON.stringify(range)).toBe(true);
        // One buffer being read, one with the caller: no more, however long the object.
        expect(seen.size).toBeLessThanOrEqual(2);
        for (const b of seen) everSeen.add(b);
      }
      // Reading one object after another allocates nothing new: the target keeps the buffers handed back.
      expect(everSeen.size).toBeLessThanOrEqual(2);
    });
  });

  test('a buffer not handed back is never read into again', async () => {
    await withTempDir('local-get-keep', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false });
      await target.put('set/volume-000001', (async function* () { yield content; })());
      const kept: Buffer[] = [];
      for await (const b of await target.get('set/volume-000001')) kept.push(b as Buffer);
      expect(new Set(kept.map((b) => b.buffer)).size).toBe(kept.length);
      expect(Buffer.concat(kept).equals(content)).toBe(true);
    });
  });

  test('stopping early closes the file, also with a read in flight', async () => {
    await withTempDir('local-get-close', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false });
      await target.put('set/volume-000001', (async function* () { yield content; })());
      const before = await openFds();
      for await (const b of await target.get('set/volume-000001')) {
        expect(b.length).toBe(MiB);
        break;
      }
      expect(await openFds()).toBe(before);
      await expect(target.get('set/volume-000002')).rejects.toMatchObject({ code: 'not-found' });
    });
  });
});

describe('LocalDirTarget get, failing', () => {
  test('a read that fails is a target error naming the file, and the file is closed', async () => {
    await withTempDir('local-get-fail', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false });
      // A directory opens for reading on Linux, and then every read fails with EISDIR.
      await mkdir(join(dir, 'set', 'volume-000001'), { recursive: true });
      const before = (await readdir('/proc/self/fd')).length;
      const source = await target.get('set/volume-000001');
      await expect((async () => {
        for await (const _ of source) void _;
      })()).rejects.toMatchObject({ code: 'io-failed', message: expect.stringContaining(`failed to read ${join(dir, 'set', 'volume-000001')}`) });
      expect((await readdir('/proc/self/fd')).length).toBe(before);
    });
  });
});
