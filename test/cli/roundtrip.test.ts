/**
 * Round trip through the real CLI: a tree with every entry type and odd
 * names is backed up for a recipient, listed, verified, restored byte for
 * byte with its metadata, and drilled against the live tree. Then tens of
 * MiB, so that the backup's reused buffers go round many times.
 */
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectExit, json, keygen, ok, onlySet, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys } from '../helpers/cli.js';
import { buildRichTree, expectSameTree, isRoot, listTree, ODD, OWNED, restoredPath, sha256File, snapshot, writeRandom } from '../helpers/tree.js';
import { randomBytes } from 'node:crypto';

useTempDirs();

let dir: string;
let src: string;
let target: string;
let keys: Keys;
let set: string;
let backupJson: any;
const prefix = () => src.replace(/^\/+/, '');

beforeAll(async () => {
  dir = await tempDir('roundtrip');
  src = join(dir, 'src');
  target = join(dir, 'target');
  keys = await keygen(dir, 'key');
  await buildRichTree(src);
  backupJson = json(await ok(['backup', src, '--to', target, '--recipient', keys.pub, '--sign-key', keys.identity, '--label', 'nightly', '--json']));
  set = await onlySet(target);
});

describe('round trip of a tree with every entry type', () => {
  it('backup --json reports the set, its files and one volume', async () => {
    const snap = await snapshot(src);
    const regular = [...snap.values()].filter((n) => n.kind === 'file');
    const inodes = new Set(regular.map((n) => n.ino));
    expect(backupJson).toMatchObject({ ok: true, exitCode: 0, command: 'backup', set, label: 'nightly', warnings: { count: 0 } });
    expect(backupJson.entries).toBe(snap.size);
    // Extra names of a hardlinked file are archived as hardlinks, not as files.
    expect(backupJson.files).toBe(inodes.size);
    expect(backupJson.sourceBytes).toBe([...inodes].reduce((n, ino) => n + regular.find((r) => r.ino === ino)!.size, 0));
    expect(backupJson.volumes).toHaveLength(1);
    expect(backupJson.volumes[0].name).toBe('volume-000001');
    expect(typeof backupJson.signer).toBe('string');
  });

  it('the plain summary line and the set folder', async () => {
    const r = await ok(['list', target]);
    expect(r.stdout).toContain(set);
    expect(r.stdout).toContain('nightly');
    expect(r.stdout).toContain(`signed ${backupJson.signer}`);
    const l = json(await ok(['list', target, '--json']));
    expect(l.sets).toHaveLength(1);
    expect(l.sets[0]).toMatchObject({ set, complete: true, label: 'nightly', volumes: 1, signer: backupJson.signer });
  });

  it('ls --json records every entry with its type, mode, owner, link and hash', async () => {
    const l = json(await ok(['ls', target, '--identity', keys.identity, '--json']));
    expect(l).toMatchObject({ ok: true, set, label: 'nightly' });
    const byPath = new Map<string, any>(l.entries.map((e: any) => [e.path, e]));
    const snap = await snapshot(src);
    expect(l.entries).toHaveLength(snap.size);
    const at = (rel: string) => {
      const e = byPath.get(rel === '.' ? prefix() : `${prefix()}/${rel}`);
      expect(e, `ls entry for ${rel}`).toBeDefined();
      return e;
    };
    for (const [rel, n] of snap) {
      const e = at(rel);
      expect(e.volume).toBe('volume-000001');
      expect(e.uid, `uid of ${rel}`).toBe(n.uid);
      expect(e.gid, `gid of ${rel}`).toBe(n.gid);
      expect(Math.floor(e.mtime), `mtime of ${rel}`).toBe(Math.floor(n.mtimeMs / 1000));
      if (n.kind === 'file' && e.type === 'file') {
        expect(e.sha256, `hash of ${rel}`).toBe(n.sha256);
        expect(e.size).toBe(n.size);
      }
      if (n.kind !== 'symlink') expect(e.mode, `mode of ${rel}`).toBe(n.mode);
    }
    expect(at('links/relative')).toMatchObject({ type: 'symlink', link: '../small.txt' });
    expect(at('links/absolute')).toMatchObject({ type: 'symlink', link: join(src, 'small.txt') });
    expect(at('links/dangling')).toMatchObject({ type: 'symlink', link: 'does/not/exist' });
    expect(at('links/to-dir')).toMatchObject({ type: 'symlink', link: '../nested' });
    expect(at('fifo')).toMatchObject({ type: 'fifo' });
    expect(at('empty-dir')).toMatchObject({ type: 'directory', mode: 0o750 });
    expect(at('sticky')).toMatchObject({ type: 'directory', mode: 0o1770 });
    expect(at('small.txt')).toMatchObject({ type: 'file', mode: 0o640 });
    expect(at('empty.txt')).toMatchObject({ type: 'file', size: 0 });
    // The first name of the inode is the file; the others link to it.
    expect(at('hard/one.txt')).toMatchObject({ type: 'file' });
    expect(at('hard/two.txt')).toMatchObject({ type: 'hardlink', link: `${prefix()}/hard/one.txt` });
    expect(at('other/three.txt')).toMatchObject({ type: 'hardlink', link: `${prefix()}/hard/one.txt` });
    for (const name of [ODD.spaces, ODD.newline, ODD.unicode, ODD.long, ODD.dash, ODD.backslash]) expect(at(`odd/${name}`).type).toBe('file');
    expect(Buffer.byteLength(at(`odd/${ODD.longPath.join('/')}`).path)).toBeGreaterThan(300);
    if (isRoot) expect(at('owned.txt')).toMatchObject({ uid: OWNED.uid, gid: OWNED.gid });
  });

  it('ls --include lists only matching entries', async () => {
    const l = json(await ok(['ls', target, '--identity', keys.identity, '--include', '**/links/*', '--json']));
    expect(l.entries.map((e: any) => e.path.slice(prefix().length + 1)).sort()).toEqual(['links/absolute', 'links/dangling', 'links/relative', 'links/to-dir']);
  });

  it('verify without a key checks signature and volume hashes; with --trust the signer', async () => {
    const v = json(await ok(['verify', target, '--trust', keys.pub, '--json']));
    expect(v).toMatchObject({ ok: true, exitCode: 0, command: 'verify', set, keyed: false, signature: { signed: true, signer: backupJson.signer, trusted: true } });
    expect(v.volumes).toEqual([{ name: 'volume-000001', size: backupJson.volumes[0].size, status: 'ok' }]);
    const plain = await ok(['verify', target]);
    expect(plain.stdout).toMatch(/ok, 1 volume, signed by/);
  });

  it('verify with the identity authenticates every chunk and hashes every file', async () => {
    const v = json(await ok(['verify', target, set, '--identity', keys.identity, '--json']));
    expect(v).toMatchObject({ ok: true, keyed: true, set, entries: backupJson.entries, files: backupJson.files, bytes: backupJson.sourceBytes });
  });

  it('restore gives back the same bytes, modes, times, links, owners and hardlinks', async () => {
    const to = join(dir, 'restored');
    const r = json(await ok(['restore', target, '--to', to, '--identity', keys.identity, '--json']));
    expect(r).toMatchObject({ ok: true, exitCode: 0, command: 'restore', set, refused: [], warnings: { count: 0 } });
    // The same counts as the backup: regular files and their bytes, every entry.
    expect(r).toMatchObject({ entries: backupJson.entries, files: backupJson.files, bytes: backupJson.sourceBytes });
    const root = restoredPath(to, src);
    const restored = await expectSameTree(root, src, { owners: isRoot });
    // Hardlinks come back as one inode with three names.
    const one = restored.get('hard/one.txt')!;
    expect(restored.get('hard/two.txt')!.ino).toBe(one.ino);
    expect(restored.get('other/three.txt')!.ino).toBe(one.ino);
    expect(one.nlink).toBe(3);
    expect(restored.get('fifo')!.kind).toBe('fifo');
    expect(restored.get('links/to-dir')!.kind).toBe('symlink');
    expect(await sha256File(join(root, 'random.bin'))).toBe(await sha256File(join(src, 'random.bin')));
  });

  it('restoring again over an earlier restore, in full or --include, leaves the same tree and no temporaries', async () => {
    const to = join(dir, 'restored');
    await ok(['restore', target, '--to', to, '--identity', keys.identity]);
    // Only the extra names of the hardlinked file: each already links to the restored inode.
    await ok(['restore', target, '--to', to, '--identity', keys.identity, '--include', '**/hard/two.txt', '--include', '**/other/three.txt']);
    expect((await listTree(to)).filter((p) => p.split('/').pop()!.startsWith('.coffer-restore-'))).toEqual([]);
    await expectSameTree(restoredPath(to, src), src, { owners: isRoot });
  });

  it('restore prints one summary line', async () => {
    const to = join(dir, 'restored-plain');
    const r = await ok(['restore', target, set, '--to', to, '--identity', keys.identity]);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(new RegExp(`^set ${set}: restored \\d+ files`));
    expect(r.stderr).toBe('');
  });

  it('drill exits 0 on the intact set, with and without --against', async () => {
    const d = json(await ok(['drill', target, '--identity', keys.identity, '--json']));
    expect(d).toMatchObject({ ok: true, exitCode: 0, command: 'drill', set, restore: { files: backupJson.files, refused: [] }, scratch: null });
    const a = json(await ok(['drill', target, '--identity', keys.identity, '--against', src, '--json']));
    expect(a.comparison).toMatchObject({ changed: [], missing: [], extra: [] });
    expect(a.comparison.same).toBe((await snapshot(src)).size);
  });

  it('drill --scratch restores into the folder given and deletes only what it made', async () => {
    const scratch = join(dir, 'scratch');
    await mkdir(scratch);
    await writeFile(join(scratch, 'precious.txt'), 'keep me\n');
    await ok(['drill', target, '--identity', keys.identity, '--scratch', scratch]);
    expect(await listTree(scratch)).toEqual(['precious.txt']);
    expect(await readFile(join(scratch, 'precious.txt'), 'utf8')).toBe('keep me\n');
    const k = json(await ok(['drill', target, '--identity', keys.identity, '--scratch', scratch, '--keep', '--json']));
    expect(k.scratch).toEqual(expect.any(String));
    await expectSameTree(restoredPath(k.scratch, src), src, { owners: isRoot });
    expect(await readFile(join(scratch, 'precious.txt'), 'utf8')).toBe('keep me\n');
  });

  it('drill --against reports what changed in the source since the backup (exit 1)', async () => {
    await appendFile(join(src, 'nested', 'a', 'mid.txt'), 'changed\n');
    await writeFile(join(src, 'new.txt'), 'new\n');
    await rm(join(src, 'exec.sh'));
    const r = await coffer(['drill', target, '--identity', keys.identity, '--against', src, '--json']);
    expectExit(r, 1);
    const d = json(r);
    expect(d.exitCode).toBe(1);
    expect(d.comparison.changed).toEqual([join(src, 'nested', 'a', 'mid.txt')]);
    expect(d.comparison.missing).toEqual([join(src, 'new.txt')]);
    expect(d.comparison.extra).toEqual([join(src, 'exec.sh')]);
    const plain = await coffer(['drill', target, '--identity', keys.identity, '--against', src]);
    expectExit(plain, 1);
    expect(plain.stdout).toContain(`changed: ${join(src, 'nested', 'a', 'mid.txt')}`);
    expect(plain.stdout).toContain(`not in backup: ${join(src, 'new.txt')}`);
    expect(plain.stdout).toContain(`only in backup: ${join(src, 'exec.sh')}`);
  });
});

describe('round trip of more data than the pipeline keeps in flight', () => {
  // 40 MiB of default-sized chunks: tar pieces and sealed frames are reused many times over (backup/run.ts).
  it('large and small files, random and text, come back byte for byte, with and without workers', async () => {
    const base = await tempDir('roundtrip-reuse');
    const tree = join(base, 'src');
    await mkdir(join(tree, 'small'), { recursive: true });
    const keys2 = await keygen(base, 'key');
    const text = (seed: number, size: number) => Buffer.from(`line ${seed} of some text that compresses well\n`.repeat(Math.ceil(size / 40))).subarray(0, size);
    for (let i = 0; i < 6; i++) {
      await writeRandom(join(tree, `random-${i}.bin`), 3 * 1024 * 1024 + i * 77_777);
      await writeFile(join(tree, `text-${i}.txt`), text(i, 3 * 1024 * 1024 + i * 55_555));
    }
    for (let i = 0; i < 300; i++) await writeFile(join(tree, 'small', `f${i}`), i % 2 ? text(i, 1 + i * 97) : randomBytes(1 + i * 131));
    for (const workers of ['2', '0']) {
      const to = join(base, `target-${workers}`);
      await ok(['backup', tree, '--to', to, '--recipient', keys2.pub, '--workers', workers, '--json']);
      await ok(['verify', to, '--identity', keys2.identity]);
      const out = join(base, `restored-${workers}`);
      await ok(['restore', to, '--to', out, '--identity', keys2.identity]);
      await expectSameTree(restoredPath(out, tree), tree);
    }
  });
});
