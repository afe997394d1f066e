/**
 * A hostile archive, built with the project's own writer at the lowest
 * level: `writeSet` (from dist/, the code bin/coffer runs) with a SetContent
 * that packs entries with tar-stream directly and adds matching catalog
 * entries, so the set is authentic and only its names are evil. Restore
 * must stay inside its folder, report each refused entry, and exit 3.
 */
import { mkdir, readFile, readlink, lstat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, expectExit, json, keygen, onlySet, tempDir, useTempDirs } from '../helpers/cli.js';
import { makeSet as makeHostileSet } from '../helpers/hostile.js';
import type { Hostile } from '../helpers/hostile.js';
import type { Keys } from '../helpers/cli.js';
import { listTree, snapshot } from '../helpers/tree.js';
import type { Node } from '../helpers/tree.js';

useTempDirs();

let dir: string;
let target: string;
let outside: string;
let keys: Keys;
let entries: Hostile[];
/** Paths restore must refuse, with a word its reason must contain. */
let refusals: [string, string][];

const file = (name: string, text: string): Hostile => ({ header: { name, type: 'file' }, body: Buffer.from(text) });
const sym = (name: string, linkname: string): Hostile => ({ header: { name, type: 'symlink', linkname } });
const hard = (name: string, linkname: string): Hostile => ({ header: { name, type: 'link', linkname } });

beforeAll(async () => {
  dir = await tempDir('hostile');
  target = join(dir, 'target');
  outside = join(dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'original secret\n');
  await writeFile(join(outside, 'victim.txt'), 'original victim\n');
  keys = await keygen(dir, 'key');

  entries = [
    file('ok-before.txt', 'fine\n'),
    file('../escape.txt', 'escaped via ..\n'),
    file('sub/../../escape2.txt', 'escaped via sub/..\n'),
    { header: { name: '../evil-dir/', type: 'directory', mode: 0o755 } },
    sym('../evil-link', '/'),
    file(join(outside, 'absolute.txt'), 'absolute path\n'),
    // A symlink to a folder outside, then a file written through it.
    sym('out', outside),
    file('out/through.txt', 'written through a symlink\n'),
    // A directory entry of the same name as that symlink: its mode and time must not reach the outside folder.
    { header: { name: 'out/', type: 'directory', mode: 0o777 } },
    // A symlink to /, then a file through it that would land in the outside folder.
    sym('root', '/'),
    file(`root${outside}/through-root.txt`, 'written through a symlink to /\n'),
    // A relative symlink that climbs out, then a file through it.
    sym('up', '..'),
    file('up/outside/through-up.txt', 'written through ..\n'),
    // A symlink to a file outside, then a regular file of the same name: the link is replaced, not followed.
    sym('victim', join(outside, 'victim.txt')),
    file('victim', 'pwned\n'),
    // Hardlinks to a file outside the restore folder.
    hard('hl-absolute', join(outside, 'secret.txt')),
    hard('hl-dotdot', '../outside/secret.txt'),
    hard('hl-through-symlink', 'out/secret.txt'),
    // A hardlink to the symlink itself.
    hard('hl-to-symlink', 'out'),
    file('ok-after.txt', 'fine too\n'),
  ];
  refusals = [
    ['../escape.txt', '..'],
    ['sub/../../escape2.txt', '..'],
    ['../evil-dir', '..'],
    ['../evil-link', '..'],
    [join(outside, 'absolute.txt'), 'absolute'],
    ['out/through.txt', 'symlink'],
    ['out', 'non-directory'],
    [`root${outside}/through-root.txt`, 'symlink'],
    ['up/outside/through-up.txt', 'symlink'],
    ['hl-absolute', 'absolute'],
    ['hl-dotdot', '..'],
    ['hl-through-symlink', 'symlink'],
    ['hl-to-symlink', 'not a regular file'],
  ];

  await makeHostileSet(target, entries, keys.pub);
  await onlySet(target);
});

describe('a hostile archive', () => {
  it('is an authentic set: verify passes and ls lists the evil names', async () => {
    const v = await coffer(['verify', target, '--identity', keys.identity, '--json']);
    expectExit(v, 0);
    const l = json(await coffer(['ls', target, '--identity', keys.identity, '--json']));
    expect(l.entries.map((e: any) => e.path)).toEqual(entries.map((e) => e.header.name.replace(/\/+$/, '')));
  });

  it('restore stays inside its folder, reports each refusal and exits 3', async () => {
    const before = await snapshot(dir);
    const to = join(dir, 'restore');
    const r = await coffer(['restore', target, '--to', to, '--identity', keys.identity, '--json']);
    expectExit(r, 3);
    const out = json(r);
    expect(out).toMatchObject({ ok: false, exitCode: 3, command: 'restore' });
    const refused = new Map<string, string>(out.refused.map((x: any) => [x.path, x.reason]));
    expect([...refused.keys()].sort()).toEqual(refusals.map(([p]) => p).sort());
    for (const [p, word] of refusals) expect(refused.get(p), p).toContain(word);

    // Nothing outside the restore folder changed: same names, types, modes, times, contents, link targets.
    const after = await snapshot(dir);
    const strip = (m: Map<string, Node>) =>
      [...m.entries()]
        .filter(([p]) => p !== '.' && p !== 'restore' && !p.startsWith('restore/'))
        .map(([p, n]) => [p, n.kind, n.mode, Math.floor(n.mtimeMs), n.sha256 ?? null, n.link ?? null]);
    expect(strip(after)).toEqual(strip(before));
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('original secret\n');
    expect(await readFile(join(outside, 'victim.txt'), 'utf8')).toBe('original victim\n');
    expect((await lstat(join(outside, 'secret.txt'))).nlink).toBe(1);

    // Inside: the harmless entries, the symlinks as links (never followed), the replaced victim.
    expect((await listTree(to)).sort()).toEqual(['ok-after.txt', 'ok-before.txt', 'out', 'root', 'up', 'victim'].sort());
    expect(await readFile(join(to, 'ok-before.txt'), 'utf8')).toBe('fine\n');
    expect(await readFile(join(to, 'ok-after.txt'), 'utf8')).toBe('fine too\n');
    expect(await readlink(join(to, 'out'))).toBe(outside);
    expect(await readlink(join(to, 'root'))).toBe('/');
    expect((await lstat(join(to, 'victim'))).isFile()).toBe(true);
    expect(await readFile(join(to, 'victim'), 'utf8')).toBe('pwned\n');
  });

  it('without --json: one error line per refusal and the summary', async () => {
    const to = join(dir, 'restore-plain');
    const r = await coffer(['restore', target, '--to', to, '--identity', keys.identity]);
    expectExit(r, 3);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(refusals.length);
    for (const [p] of refusals) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^coffer: error: refused ${escapeRe(JSON.stringify(p))}: `)));
    expect(r.stdout).toMatch(new RegExp(`restored \\d+ files .*, ${refusals.length} entries refused\\n$`));
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('a set whose catalog lies', () => {
  it('a file whose content does not match the catalog hash is never left under its name', async () => {
    const t = join(dir, 'liar');
    const big = Buffer.alloc(200_000, 'x');
    await makeHostileSet(t, [
      file('good.txt', 'good\n'),
      { ...file('liar.txt', big.toString()), lie: (rec) => ({ ...rec, sha256: createHash('sha256').update('something else').digest('hex') }) },
      file('after.txt', 'after\n'),
    ], keys.pub);
    const to = join(dir, 'restore-liar');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, 'liar.txt', "does not match the catalog's hash");
    // Files after the bad one may have been finished meanwhile (files are written on several threads):
    // any that is there is whole, and nothing else is (no temporary, no liar.txt).
    const restored = (await listTree(to)).sort();
    expect(restored).toContain('good.txt');
    expect(restored.filter((n) => n !== 'good.txt' && n !== 'after.txt')).toEqual([]);
    for (const name of restored) expect(await readFile(join(to, name), 'utf8')).toBe(name === 'good.txt' ? 'good\n' : 'after\n');
    expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, 'liar.txt');
  });

  it('an archive entry the catalog does not expect stops the restore', async () => {
    const t = join(dir, 'mismatch');
    await makeHostileSet(t, [file('first.txt', 'first\n'), { ...file('second.txt', 'second\n'), lie: (rec) => ({ ...rec, path: 'other.txt' }) }], keys.pub);
    const to = join(dir, 'restore-mismatch');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, '"second.txt"', '"other.txt"');
    expect(await listTree(to)).toEqual(['first.txt']);
    expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, 'catalog expects');
  });

  // Whoever holds the data key can rewrite tar headers, not the catalog the signed manifest binds:
  // restore applies nothing from a header its record does not confirm.
  const headerLies: [string, Hostile, string][] = [
    ['mode', { header: { name: 'tool', type: 'file', mode: 0o4755 }, body: Buffer.from('#!/bin/sh\n'), lie: (rec) => ({ ...rec, mode: 0o755 }) }, 'mode: 04755 in the archive, 0755 in the catalog'],
    ['owner', { header: { name: 'tool', type: 'file', uid: 4242 }, body: Buffer.from('x\n'), lie: (rec) => ({ ...rec, uid: 0 }) }, 'uid: 4242 in the archive, 0 in the catalog'],
    ['time', { header: { name: 'tool', type: 'file', mtime: new Date(1_700_000_000_000) }, body: Buffer.from('x\n'), lie: (rec) => ({ ...rec, mtime: 1_600_000_000 }) }, 'mtime: 1700000000 in the archive, 1600000000 in the catalog'],
    ['link target', { ...sym('tool', '/etc/shadow'), lie: (rec) => ({ ...rec, link: 'first.txt' }) }, 'link target: "/etc/shadow" in the archive, "first.txt" in the catalog'],
    ['kind', { ...sym('tool', 'first.txt'), lie: (rec) => ({ ...rec, type: 'file', sha256: createHash('sha256').digest('hex') }) }, 'type: symlink in the archive, file in the catalog'],
  ];
  it.each(headerLies)('a header whose %s disagrees with the catalog stops the restore before that entry is written', async (what, lying, message) => {
    const t = join(dir, `header-lie-${what.replace(' ', '-')}`);
    await makeHostileSet(t, [file('first.txt', 'first\n'), lying, file('after.txt', 'after\n')], keys.pub);
    const to = join(dir, `restore-header-lie-${what.replace(' ', '-')}`);
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, '"tool"', message);
    expect(await listTree(to)).toEqual(['first.txt']);
    expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, message);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
