/**
 * Trees on disk for end-to-end tests: build a source tree with every entry
 * type and awkward names, snapshot a tree (type, mode, mtime, owner, content
 * hash, link target, inode groups), compare a restored tree with its source,
 * and check that a failed restore left nothing wrong behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { chmod, chown, link, lstat, lutimes, mkdir, readdir, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';

export const isRoot = process.getuid?.() === 0;

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(path)) h.update(b as Buffer);
  return h.digest('hex');
}

export type Kind = 'file' | 'directory' | 'symlink' | 'fifo' | 'other';

export interface Node {
  kind: Kind;
  /** Permission bits (0o7777); not compared for symlinks. */
  mode: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  nlink: number;
  sha256?: string;
  link?: string;
}

function kindOf(st: Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/** Every entry under root (root itself as '.'), by relative path, never following symlinks. */
export async function snapshot(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const kind = kindOf(st);
    const node: Node = { kind, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, uid: st.uid, gid: st.gid, size: st.size, ino: st.ino, nlink: st.nlink };
    if (kind === 'file') node.sha256 = await sha256File(abs);
    if (kind === 'symlink') node.link = await readlink(abs);
    out.set(rel, node);
    if (kind === 'directory') {
      for (const name of (await readdir(abs)).sort()) await visit(join(abs, name), rel === '.' ? name : `${rel}/${name}`);
    }
  };
  await visit(root, '.');
  return out;
}

/** Where a source directory lands under a restore folder: its absolute path without the leading '/'. */
export function restoredPath(restoreDir: string, source: string): string {
  return join(restoreDir, source.replace(/^\/+/, ''));
}

/**
 * Asserts that `restored` holds the same tree as `original`: the same names,
 * types, permission bits (symlinks excepted), mtimes to the second, content
 * hashes, symlink targets, owners (when `owners`), and the same hardlink
 * groups (names sharing an inode in the original share one in the copy).
 */
export async function expectSameTree(restored: string, original: string, opts: { owners?: boolean } = {}): Promise<Map<string, Node>> {
  const a = await snapshot(restored);
  const b = await snapshot(original);
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [rel, want] of b) {
    const got = a.get(rel)!;
    const what = `${rel} (${want.kind})`;
    expect(got.kind, what).toBe(want.kind);
    if (want.kind !== 'symlink') expect(got.mode.toString(8), `mode of ${what}`).toBe(want.mode.toString(8));
    expect(Math.floor(got.mtimeMs / 1000), `mtime of ${what}`).toBe(Math.floor(want.mtimeMs / 1000));
    if (want.kind === 'file') {
      expect(got.size, `size of ${what}`).toBe(want.size);
      expect(got.sha256, `content of ${what}`).toBe(want.sha256);
    }
    if (want.kind === 'symlink') expect(got.link, `target of ${what}`).toBe(want.link);
    if (opts.owners) {
      expect(got.uid, `uid of ${what}`).toBe(want.uid);
      expect(got.gid, `gid of ${what}`).toBe(want.gid);
    }
  }
  // Hardlink groups: same partition of names by inode.
  const groups = (m: Map<string, Node>) => {
    const byIno = new Map<number, string[]>();
    for (const [rel, n] of m) if (n.kind === 'file') (byIno.get(n.ino) ?? byIno.set(n.ino, []).get(n.ino)!).push(rel);
    return [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort().join(' = ')).sort();
  };
  expect(groups(a)).toEqual(groups(b));
  return a;
}

/** Every path under root, relative, directories included. */
export async function listTree(root: string): Promise<string[]> {
  try {
    return [...(await snapshot(root)).keys()].filter((p) => p !== '.');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Regular files under root, relative paths. */
export async function filesIn(root: string): Promise<string[]> {
  try {
    return [...(await snapshot(root))].filter(([, n]) => n.kind === 'file').map(([p]) => p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * After a restore that failed: no `.coffer-restore-*` temporary is left
 * anywhere, and every regular file under its final name has exactly the
 * content of the same file in the source.
 */
export async function expectNothingWrong(restoreDir: string, source: string): Promise<void> {
  const all = await listTree(restoreDir);
  expect(all.filter((p) => p.split('/').pop()!.startsWith('.coffer-restore-'))).toEqual([]);
  const base = restoredPath(restoreDir, source);
  const restored = await snapshot(base).catch(() => new Map<string, Node>());
  for (const [rel, n] of restored) {
    if (n.kind !== 'file') continue;
    const want = await sha256File(join(source, rel)).catch(() => 'not in the source');
    expect(n.sha256, `restored ${rel} must be byte-identical to the source`).toBe(want);
  }
  // Nothing beside the source's own path was created.
  for (const p of all) {
    const abs = join(restoreDir, p);
    expect(base.startsWith(abs) || abs.startsWith(base), `${p} is outside the restored source path`).toBe(true);
  }
}

export async function writeRandom(path: string, size: number): Promise<void> {
  await writeFile(path, randomBytes(size));
}

export function mkfifo(path: string, mode = 0o644): void {
  execFileSync('mkfifo', ['-m', mode.toString(8), path]);
}

/** Names exercised by the rich tree. */
export const ODD = {
  spaces: 'name with spaces.txt',
  newline: 'line\nbreak.txt',
  unicode: 'ünïcødé-名前-🙂.txt',
  long: `${'n'.repeat(220)}.txt`,
  longPath: [`${'p'.repeat(120)}`, `${'q'.repeat(120)}`, `${'r'.repeat(80)}.txt`],
  dash: '-leading-dash',
  backslash: 'back\\slash "quoted" *star?.txt',
};

export const OWNED = { uid: 1234, gid: 5678 };

/**
 * A source tree with every entry type coffer archives: empty, small, large
 * random and highly compressible files; empty and nested directories;
 * relative, absolute and dangling symlinks and a symlink to a directory;
 * hardlinks (same directory and across directories); a FIFO; odd names; a
 * 224-byte name and a 320+-byte path; unusual modes (0640, 0750, 0700, 0604,
 * 01770); fractional mtimes on every entry; and, as root, a file owned by
 * uid 1234 / gid 5678.
 */
export async function buildRichTree(root: string, opts: { bigBytes?: number; compressibleBytes?: number } = {}): Promise<void> {
  const p = (...parts: string[]) => join(root, ...parts);
  await mkdir(root);
  await writeFile(p('empty.txt'), '');
  await writeFile(p('small.txt'), 'hello, coffer\n');
  await writeRandom(p('random.bin'), opts.bigBytes ?? 4 * 1024 * 1024 + 123);
  const line = 'the quick brown fox jumps over the lazy dog 0123456789\n';
  await writeFile(p('compressible.txt'), line.repeat(Math.ceil((opts.compressibleBytes ?? 3 * 1024 * 1024) / line.length)));
  await writeFile(p('exec.sh'), '#!/bin/sh\necho hi\n');
  await mkdir(p('empty-dir'));
  await mkdir(p('nested', 'a', 'b', 'c'), { recursive: true });
  await writeFile(p('nested', 'a', 'b', 'c', 'deep.txt'), 'deep\n');
  await writeFile(p('nested', 'a', 'mid.txt'), 'mid\n');
  await mkdir(p('restricted'));
  await writeFile(p('restricted', 'secret.txt'), 'secret\n');
  await mkdir(p('sticky'));
  await mkdir(p('links'));
  await symlink('../small.txt', p('links', 'relative'));
  await symlink(p('small.txt'), p('links', 'absolute'));
  await symlink('does/not/exist', p('links', 'dangling'));
  await symlink('../nested', p('links', 'to-dir'));
  await mkdir(p('hard'));
  await mkdir(p('other'));
  await writeFile(p('hard', 'one.txt'), 'linked content\n');
  await link(p('hard', 'one.txt'), p('hard', 'two.txt'));
  await link(p('hard', 'one.txt'), p('other', 'three.txt'));
  mkfifo(p('fifo'));
  await mkdir(p('odd'));
  for (const name of [ODD.spaces, ODD.newline, ODD.unicode, ODD.long, ODD.dash, ODD.backslash]) await writeFile(p('odd', name), `content of ${name}\n`);
  await mkdir(p('odd', ODD.longPath[0]!, ODD.longPath[1]!), { recursive: true });
  await writeFile(p('odd', ...ODD.longPath), 'at the end of a long path\n');
  // Modes a umask of 022 would take bits from, and set-id bits: a restore must set them after creation.
  await writeFile(p('shared.txt'), 'writable by all\n');
  await writeFile(p('set-ids.sh'), '#!/bin/sh\n');
  await writeFile(p('owned.txt'), 'owned by someone else\n');
  if (isRoot) await chown(p('owned.txt'), OWNED.uid, OWNED.gid);
  // chown clears set-id bits: a restore that sets the owner must set the mode after it.
  if (isRoot) await chown(p('set-ids.sh'), OWNED.uid, OWNED.gid);

  await chmod(p('small.txt'), 0o640);
  await chmod(p('exec.sh'), 0o755);
  await chmod(p('compressible.txt'), 0o604);
  await chmod(p('empty-dir'), 0o750);
  await chmod(p('restricted'), 0o700);
  await chmod(p('restricted', 'secret.txt'), 0o600);
  await chmod(p('sticky'), 0o1770);
  await chmod(p('hard', 'one.txt'), 0o640);
  await chmod(p('shared.txt'), 0o666);
  await chmod(p('set-ids.sh'), 0o6755);

  // Distinct fractional mtimes, deepest first so a directory's own time is set after its children change it.
  const all = [...(await snapshot(root)).keys()].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
  let i = 0;
  for (const rel of all) {
    const abs = rel === '.' ? root : join(root, rel);
    const t = new Date(Date.UTC(2020, 0, 2, 3, 4, 5) + (i++ * 3_601_250));
    const st = await lstat(abs);
    if (st.isSymbolicLink()) await lutimes(abs, t, t);
    else await utimes(abs, t, t);
  }
}
