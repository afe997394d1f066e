/**
 * Several sets in one target: list shows a set folder without a manifest as
 * incomplete, and every command without SET picks the newest complete set.
 * Also: a backup that warns (a socket it cannot archive) exits 1.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, expectExit, json, keygen, ok, setsIn, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys } from '../helpers/cli.js';
import { restoredPath } from '../helpers/tree.js';

useTempDirs();

let dir: string;
let src: string;
let target: string;
let keys: Keys;
let older: string;
let newest: string;
let incomplete: string;

async function backupVersion(text: string): Promise<string> {
  await writeFile(join(src, 'version.txt'), text);
  const r = json(await ok(['backup', src, '--to', target, '--recipient', keys.pub, '--label', text.trim(), '--json']));
  return r.set as string;
}

beforeAll(async () => {
  dir = await tempDir('sets');
  src = join(dir, 'src');
  target = join(dir, 'target');
  keys = await keygen(dir, 'key');
  await mkdir(src);
  older = await backupVersion('one\n');
  newest = await backupVersion('two\n');
  incomplete = await backupVersion('three\n');
  // The newest set lost its manifest: an interrupted backup looks like this.
  await rm(join(target, incomplete, 'manifest'));
  expect(await setsIn(target)).toEqual([older, newest, incomplete]);
});

describe('sets in a target', () => {
  it('list shows a set without a manifest as incomplete', async () => {
    const l = json(await ok(['list', target, '--json']));
    expect(l.sets.map((s: any) => [s.set, s.complete, s.label])).toEqual([
      [older, true, 'one'],
      [newest, true, 'two'],
      [incomplete, false, null],
    ]);
    expect(l.sets[2].volumes).toBe(1);
    const plain = (await ok(['list', target])).stdout.trim().split('\n');
    expect(plain).toHaveLength(3);
    expect(plain[2]).toContain(incomplete);
    expect(plain[2]).toContain('INCOMPLETE');
    expect(plain[1]).not.toContain('INCOMPLETE');
  });

  it('restore, verify, ls, impact and drill without SET use the newest complete set', async () => {
    const to = join(dir, 'restored');
    const r = json(await ok(['restore', target, '--to', to, '--identity', keys.identity, '--json']));
    expect(r.set).toBe(newest);
    expect(await readFile(join(restoredPath(to, src), 'version.txt'), 'utf8')).toBe('two\n');
    expect(json(await ok(['verify', target, '--json'])).set).toBe(newest);
    expect(json(await ok(['verify', target, '--identity', keys.identity, '--json'])).set).toBe(newest);
    expect(json(await ok(['ls', target, '--identity', keys.identity, '--json'])).set).toBe(newest);
    expect(json(await ok(['impact', target, '--lost', '1', '--identity', keys.identity, '--json'])).set).toBe(newest);
    expect(json(await ok(['drill', target, '--identity', keys.identity, '--json'])).set).toBe(newest);
  });

  it('an older set can be named', async () => {
    const to = join(dir, 'restored-older');
    await ok(['restore', target, older, '--to', to, '--identity', keys.identity]);
    expect(await readFile(join(restoredPath(to, src), 'version.txt'), 'utf8')).toBe('one\n');
  });

  it('the incomplete set named explicitly is an integrity failure; an unknown set a usage error', async () => {
    expectError(await coffer(['verify', target, incomplete]), 3, `set ${incomplete} has no manifest`);
    const bogus = '20200101T000000.000Z-0000000000000000';
    expectError(await coffer(['verify', target, bogus]), 2, `no set ${bogus}`);
  });

  it('an empty target has no sets; a missing one is a usage error', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const l = await ok(['list', empty]);
    expect(l.stdout).toBe('');
    expect(l.stderr).toContain('no sets');
    expect(json(await ok(['list', empty, '--json'])).sets).toEqual([]);
    expectError(await coffer(['restore', empty, '--to', join(dir, 'x'), '--identity', keys.identity]), 2, 'no complete set');
    expectError(await coffer(['list', join(dir, 'missing')]), 2, 'does not exist');
  });

  it('a backup that skips an entry (a socket) exits 1 with a warning and is complete', async () => {
    const wsrc = join(dir, 'with-socket');
    await mkdir(wsrc);
    await writeFile(join(wsrc, 'file.txt'), 'data\n');
    const sock = join(wsrc, 'control.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const t = join(dir, 'warn-target');
      const r = await coffer(['backup', wsrc, '--to', t, '--recipient', keys.pub, '--json']);
      expectExit(r, 1);
      const b = json(r);
      expect(b).toMatchObject({ ok: true, exitCode: 1, files: 1, warnings: { count: 1 } });
      expect(b.warnings.items[0].path).toBe(sock);
      const plain = await coffer(['backup', wsrc, '--to', t, '--recipient', keys.pub]);
      expectExit(plain, 1);
      expect(plain.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^coffer: warning: skipped .*control\.sock: sockets cannot be archived$/)]);
      expect(plain.stdout).toMatch(/, 1 warning\n$/);
      expect(json(await ok(['list', t, '--json'])).sets.map((s: any) => s.complete)).toEqual([true, true]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
