// targets/local-dir: a put large enough to be flushed to disk while it is
// written stores exactly its bytes; a flush that fails fails the put and
// leaves neither the object nor its temporary file.
import { createHash } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
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
