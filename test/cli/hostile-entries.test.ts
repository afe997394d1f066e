/**
 * More hostile archives (see hostile.test.ts for paths that escape): entry
 * kinds a restore must handle with care, declared sizes that lie, duplicate
 * and deeply nested names, and names with NUL, newline or invalid UTF-8.
 * Each set is authentic (made with writeSet and a valid key); restore must
 * stay inside its folder, report what it refuses or skips, and never crash.
 */
import { chmod, chown, lstat, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, json, keygen, ok, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys } from '../helpers/cli.js';
import { listTree } from '../helpers/tree.js';
import { makeSet } from '../helpers/hostile.js';
import type { Hostile } from '../helpers/hostile.js';

useTempDirs();

let dir: string;
let keys: Keys;
const NOBODY = 65534;

const file = (name: string, text: string): Hostile => ({ header: { name, type: 'file' }, body: Buffer.from(text) });

beforeAll(async () => {
  dir = await tempDir('hostile-entries');
  keys = await keygen(dir, 'key');
});

/** A tar header block for `name` declaring `size`, with a valid checksum (ustar, octal fields). */
function rawHeader(name: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(size.toString(8).padStart(11, '0') + '\0', 124);
  b.write('14576335400\0', 136);
  b.write('0', 156);
  b.write('ustar\0', 257);
  b.write('00', 263);
  b.fill(' ', 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return b;
}

describe('special entries', () => {
  it('a FIFO is created (never opened) and a device node is skipped with a warning when not root', async () => {
    const t = join(dir, 'special');
    await makeSet(t, [
      { header: { name: 'pipe', type: 'fifo', mode: 0o600 } },
      { header: { name: 'disk', type: 'block-device', mode: 0o600, devmajor: 8, devminor: 0 } },
      { header: { name: 'null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      file('after.txt', 'after\n'),
    ], keys.pub);
    // Run the restore as an unprivileged user: it needs to read the key and write the folder.
    const to = join(dir, 'special-restored');
    await mkdir(to);
    await chown(to, NOBODY, NOBODY);
    await chown(keys.identity, NOBODY, NOBODY);
    await chmod(dir, 0o755); // mkdtemp makes it 0700
    try {
      const r = await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--json'], { uid: NOBODY, gid: NOBODY });
      expect(r.code, r.stderr).toBe(1);
      const result = json(r);
      expect(result.warnings.items.map((w: { code: string }) => w.code).sort()).toEqual(['special-file-skipped', 'special-file-skipped']);
      expect((await lstat(join(to, 'pipe'))).isFIFO()).toBe(true);
      expect((await listTree(to)).sort()).toEqual(['after.txt', 'pipe']);
    } finally {
      await chown(keys.identity, 0, 0);
    }
  });
});

describe('lying sizes', () => {
  it('a header declaring 8 GiB followed by a few bytes is a malformed archive (exit 3), and no file is left', async () => {
    const t = join(dir, 'huge');
    const tar = Buffer.concat([rawHeader('huge.bin', 8 * 1024 ** 3 - 1), Buffer.alloc(4096, 0x61)]);
    await makeSet(t, [], keys.pub, () => (async function* () { yield tar; })());
    const to = join(dir, 'huge-restored');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--volumes-only']), 3, 'malformed');
    expect(await listTree(to)).toEqual([]);
  });
});

describe('names', () => {
  it('a duplicate entry: the later one wins, each checked against its own catalog record', async () => {
    const t = join(dir, 'dup');
    await makeSet(t, [file('same.txt', 'first\n'), file('same.txt', 'second\n'), { header: { name: 'dir', type: 'directory' } }, file('dir', 'not a dir\n')], keys.pub);
    const to = join(dir, 'dup-restored');
    const r = await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(await readFile(join(to, 'same.txt'), 'utf8')).toBe('second\n');
    expect(json(r).refused).toEqual([expect.objectContaining({ path: 'dir' })]);
    expect((await lstat(join(to, 'dir'))).isDirectory()).toBe(true);
  });

  it('a large entry then a small one of the same name, on different threads: the later one wins', async () => {
    const t = join(dir, 'dups');
    // Each file goes to the least busy thread: the small one would be renamed into place first unless the restore waits.
    const big = (i: number) => `version ${i} `.repeat(600_000);
    await makeSet(t, [file('a.txt', big(0)), file('a.txt', 'version 1\n'), file('b.txt', big(2)), file('b.txt', 'version 3\n'), file('a.txt', big(4)), file('a.txt', 'version 5\n')], keys.pub);
    const to = join(dir, 'dups-restored');
    const r = await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(to, 'a.txt'), 'utf8')).toBe('version 5\n');
    expect(await readFile(join(to, 'b.txt'), 'utf8')).toBe('version 3\n');
    expect((await readdir(to)).sort()).toEqual(['a.txt', 'b.txt']);
  });

  it('deeply nested paths are restored; a path too long for the file system is refused, not a crash', async () => {
    const t = join(dir, 'deep');
    const deep = Array.from({ length: 150 }, () => 'd').join('/') + '/leaf.txt';
    const tooLong = Array.from({ length: 40 }, (_, i) => `${'x'.repeat(200)}${i}`).join('/') + '/leaf.txt';
    await makeSet(t, [file(deep, 'deep\n'), file(tooLong, 'long\n'), file('after.txt', 'after\n')], keys.pub);
    const to = join(dir, 'deep-restored');
    const r = await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(await readFile(join(to, deep), 'utf8')).toBe('deep\n');
    expect(await readFile(join(to, 'after.txt'), 'utf8')).toBe('after\n');
    expect(json(r).refused.map((x: { reason: string }) => x.reason)).toEqual([expect.stringMatching(/too long/)]);
  });

  it('names with NUL are refused; newline and invalid UTF-8 stay inside the folder', async () => {
    const t = join(dir, 'odd');
    await makeSet(t, [
      { header: { name: 'nul\0/../../escape.txt', type: 'file', pax: { comment: 'forces a PAX path record, which carries the NUL' } }, body: Buffer.from('nul\n') },
      file('line\nbreak.txt', 'newline\n'),
      // A lone surrogate is written as invalid UTF-8 and read back as U+FFFD; the catalog says what is read.
      { header: { name: 'bad-\udc80-utf8.txt', type: 'file' }, body: Buffer.from('invalid\n'), lie: (rec) => ({ ...rec, path: 'bad-\ufffd-utf8.txt' }) },
      file('after.txt', 'after\n'),
    ], keys.pub);
    const to = join(dir, 'odd-restored');
    await mkdir(to);
    const r = await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(json(r).refused.map((x: { reason: string }) => x.reason)).toEqual([expect.stringMatching(/NUL/)]);
    expect(await readFile(join(to, 'line\nbreak.txt'), 'utf8')).toBe('newline\n');
    const names = await readdir(to);
    expect(names).toContain('after.txt');
    expect(names.some((n) => n.startsWith('bad-') && n.endsWith('-utf8.txt'))).toBe(true);
    expect(await listTree(dir)).not.toContain('escape.txt');
  });
});
