// targets/local-dir: puts and gets go through O_DIRECT where the filesystem
// allows it, and through the page cache otherwise; both store and read back
// exactly their bytes, whatever the sizes and offsets. A put large enough to
// be flushed to disk while it is written stores exactly its bytes; a write or
// flush that fails fails the put and leaves neither the object nor its
// temporary file. A get reads exactly the range asked, into buffers reused
// only once handed back, and closes its file however the reading ends.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LocalDirTarget } from '../../src/targets/local-dir.js';
import { seededRandom, withTempDir } from './helpers.js';

const MiB = 1024 * 1024;
const O_DIRECT = 0o40000; // x86-64 and arm64 value, as /proc/self/fdinfo shows flags in octal

/** Whether this process holds `path` open, and with O_DIRECT. */
async function openedDirect(path: string): Promise<boolean | undefined> {
  for (const fd of await readdir('/proc/self/fd')) {
    const to = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (to !== path) continue;
    const flags = /flags:\s+([0-7]+)/.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
    return (parseInt(flags, 8) & O_DIRECT) !== 0;
  }
  return undefined;
}

/** The sizes where the aligned stages (1 MiB) and blocks (4 KiB) begin and end. */
const SIZES = [0, 1, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 2 * MiB + 4096, 3 * MiB + 12_345];

/** 130 MiB and a bit, in 1 MiB pieces: past two background flushes. */
async function* pieces(): AsyncGenerator<Buffer> {
  for (let i = 0; i < 130; i++) yield Buffer.alloc(MiB, i);
  yield Buffer.from('the end');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each([true, false])('LocalDirTarget with directIo %s', (directIo) => {
  test('objects of every size, put in uneven pieces, come back exactly, ranges too', async () => {
    await withTempDir('local-sizes', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false, directIo });
      const random = seededRandom(7);
      for (const size of SIZES) {
        const content = random.bytes(size);
        async function* uneven(): AsyncGenerator<Buffer> {
          for (let off = 0; off < size; ) {
            const n = Math.min(size - off, 1 + random.int(700_000));
            yield content.subarray(off, off + n);
            off += n;
          }
        }
        const name = `set/object-${size}`;
        expect((await target.put(name, uneven())).size).toBe(size);
        expect((await readFile(join(dir, name))).equals(content), `size ${size}`).toBe(true);
        for (const start of [0, 1, 4095, 4096, MiB + 5].filter((s) => s <= size)) {
          const end = Math.max(start, size - 3);
          const got: Buffer[] = [];
          for await (const b of await target.get(name, { start, end })) got.push(Buffer.from(b));
          expect(Buffer.concat(got).equals(content.subarray(start, end)), `size ${size} from ${start} to ${end}`).toBe(true);
        }
      }
      expect((await readdir(join(dir, 'set'))).filter((n) => n.startsWith('.'))).toEqual([]);
    });
  });

  test(directIo ? 'files are opened with O_DIRECT, also after many puts and gets' : 'files are never opened with O_DIRECT', async () => {
    await withTempDir('local-direct', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false, directIo });
      for (let i = 0; i < 12; i++) {
        const name = `set/volume-${i}`;
        const seen: (boolean | undefined)[] = [];
        await target.put(name, (async function* () {
          yield Buffer.alloc(5000, i);
          const partial = (await readdir(join(dir, 'set'))).find((n) => n.startsWith(`.volume-${i}.partial-`))!;
          seen.push(await openedDirect(join(dir, 'set', partial)));
        })());
        for await (const _ of await target.get(name)) seen.push(await openedDirect(join(dir, name)));
        expect(seen).toEqual([directIo, directIo]);
      }
    });
  });

  test('more reads at once than aligned buffers: all read exactly, and the buffers come back', async () => {
    await withTempDir('local-many', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false, directIo });
      const content = seededRandom(3).bytes(2 * MiB + 99);
      await target.put('set/volume-000001', (async function* () { yield content; })());
      const sources = await Promise.all(Array.from({ length: 20 }, () => target.get('set/volume-000001', { start: 17 })));
      const got = await Promise.all(sources.map(async (s) => {
        const parts: Buffer[] = [];
        for await (const b of s) parts.push(Buffer.from(b));
        return Buffer.concat(parts);
      }));
      for (const g of got) expect(g.equals(content.subarray(17))).toBe(true);
      for await (const _ of await target.get('set/volume-000001')) expect(await openedDirect(join(dir, 'set', 'volume-000001'))).toBe(directIo);
    });
  });
});

describe('LocalDirTarget get with O_DIRECT', () => {
  test('a caller that hands buffers back is lent aligned ones; one that keeps them never is, and never drains them', async () => {
    await withTempDir('local-lend', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false });
      const content = seededRandom(5).bytes(6 * MiB + 777);
      await target.put('set/volume-000001', (async function* () { yield content; })());
      for (let i = 0; i < 20; i++) {
        const kept: Buffer[] = [];
        for await (const b of await target.get('set/volume-000001', { start: 3 })) kept.push(b as Buffer);
        expect(Buffer.concat(kept).equals(content.subarray(3))).toBe(true);
        // Plain buffers of their own: none is shared, so none can be read into again.
        expect(new Set(kept.map((b) => b.buffer)).size).toBe(kept.length);
      }
      const source = await target.get('set/volume-000001', { start: 3 });
      const got: Buffer[] = [];
      const lent = new Set<string>();
      for await (const b of source) {
        // The first two were read before any was handed back; later ones are views of the aligned pool, where at most
        // five are out at once: four being read ahead, one with the caller.
        if (got.length >= 2) {
          expect(b.buffer.byteLength).toBeGreaterThan(MiB);
          lent.add(String(b.byteOffset - (b.byteOffset % MiB)));
        }
        got.push(Buffer.from(b));
        source.recycle?.(b);
      }
      expect(Buffer.concat(got).equals(content.subarray(3))).toBe(true);
      expect(lent.size).toBeGreaterThan(0);
      expect(lent.size).toBeLessThanOrEqual(5);
    });
  });
});

describe('LocalDirTarget put', () => {
  test('a put flushed while it is written stores exactly its bytes', async () => {
    await withTempDir('local-flush', async (dir) => {
      const target = await LocalDirTarget.open(dir, { create: false, directIo: false });
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
        const target = await LocalDirTarget.open(dir, { create: false, directIo: false });
        await expect(target.put('set/volume-000001', pieces())).rejects.toThrow(/volume-000001/);
        expect((await readdir(dir)).sort()).toEqual(['probe']);
      } finally {
        proto.datasync = original;
      }
    });
  });

  test('a direct write that fails, while the next stage fills, fails the put and leaves nothing', async () => {
    await withTempDir('local-direct-fail', async (dir) => {
      const probe = await open(join(dir, 'probe'), 'w');
      const proto = Object.getPrototypeOf(probe) as { write(...args: unknown[]): Promise<unknown> };
      await probe.close();
      const original = proto.write;
      let writes = 0;
      proto.write = function (this: unknown, ...args: unknown[]) {
        if (++writes === 3) return Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
        return original.apply(this, args);
      };
      try {
        const target = await LocalDirTarget.open(dir, { create: false });
        await expect(target.put('set/volume-000001', pieces())).rejects.toThrow(/failed to write .*volume-000001: input\/output error$/);
        expect(writes).toBe(3); // the failure surfaced at the next flush, and nothing was written after it
        expect((await readdir(dir)).sort()).toEqual(['probe']);
        // The stages came back: the next put still goes through O_DIRECT and stores its bytes.
        await target.put('set/volume-000001', (async function* () { yield Buffer.alloc(3 * MiB, 1); })());
        expect((await readFile(join(dir, 'set', 'volume-000001'))).equals(Buffer.alloc(3 * MiB, 1))).toBe(true);
      } finally {
        proto.write = original;
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
      // Linux refuses O_DIRECT on a directory (EINVAL), as some filesystems do on files: the target opens it without.
      expect(await openedDirect(join(dir, 'set', 'volume-000001'))).toBe(false);
      await expect((async () => {
        for await (const _ of source) void _;
      })()).rejects.toMatchObject({ code: 'io-failed', message: expect.stringContaining(`failed to read ${join(dir, 'set', 'volume-000001')}`) });
      expect((await readdir('/proc/self/fd')).length).toBe(before);
    });
  });
});
