/**
 * Usage and configuration errors: exit 2, one error line (and at most one
 * hint), no stack trace, nothing written; with --json one JSON object.
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, coffer, expectError, expectJsonError, keygen, ok, setsIn, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys } from '../helpers/cli.js';
import { listTree } from '../helpers/tree.js';

useTempDirs();

let dir: string;
let src: string;
let target: string;
let keys: Keys;

beforeAll(async () => {
  dir = await tempDir('usage');
  src = join(dir, 'src');
  target = join(dir, 'target');
  await mkdir(src);
  await writeFile(join(src, 'f.txt'), 'f\n');
  keys = await keygen(dir, 'key');
  await ok(['backup', src, '--to', target, '--recipient', keys.pub]);
});

describe('usage errors exit 2 with one line', () => {
  it('an unknown flag', async () => {
    expectError(await coffer(['backup', src, '--to', join(dir, 't1'), '--recipient', keys.pub, '--bogus']), 2, "unknown option '--bogus'");
    expectError(await coffer(['restore', target, '--to', join(dir, 'r1'), '--identity', keys.identity, '--frobnicate']), 2, '--frobnicate');
    expect(await listTree(join(dir, 't1'))).toEqual([]);
    expect(await listTree(join(dir, 'r1'))).toEqual([]);
  });

  it('an unknown command', async () => {
    expectError(await coffer(['frobnicate']), 2, 'frobnicate');
  });

  it('a missing --to', async () => {
    expectError(await coffer(['restore', target, '--identity', keys.identity]), 2, '--to');
    expectError(await coffer(['backup', src, '--recipient', keys.pub]), 2, '--to');
  });

  it('a bad --volume-size or --chunk-size', async () => {
    const t = join(dir, 't2');
    expectError(await coffer(['backup', src, '--to', t, '--recipient', keys.pub, '--volume-size', '12Q']), 2, '--volume-size', '12Q');
    expectError(await coffer(['backup', src, '--to', t, '--recipient', keys.pub, '--volume-size', '0']), 2, '--volume-size');
    expectError(await coffer(['backup', src, '--to', t, '--recipient', keys.pub, '--volume-size', 'big']), 2, '--volume-size');
    // Well-formed but too small to hold one chunk.
    expectError(await coffer(['backup', src, '--to', t, '--recipient', keys.pub, '--volume-size', '1K']), 2, 'too small');
    expectError(await coffer(['backup', src, '--to', t, '--recipient', keys.pub, '--chunk-size', '1K']), 2, '--chunk-size');
    expect(await setsIn(t).catch(() => [])).toEqual([]);
  });

  it('no recipient or passphrase for a backup', async () => {
    const t = join(dir, 't3');
    expectError(await coffer(['backup', src, '--to', t]), 2, 'no way to decrypt');
    expect(await listTree(t)).toEqual([]);
    const empty = join(dir, 'empty-pass');
    await writeFile(empty, '\n');
    expectError(await coffer(['backup', src, '--to', t, '--passphrase-file', empty]), 2, 'passphrase is empty');
    expectError(await coffer(['backup', src, '--to', t, '--passphrase-file', join(dir, 'no-such-file')]), 2, 'no-such-file');
  });

  it('no key for a command that needs one', async () => {
    expectError(await coffer(['restore', target, '--to', join(dir, 'r2')]), 2, 'no key given');
    expectError(await coffer(['ls', target]), 2, 'no key given');
    expect(await listTree(join(dir, 'r2'))).toEqual([]);
  });

  it('restore --to an existing file', async () => {
    const f = join(dir, 'a-file');
    await writeFile(f, 'not a folder\n');
    expectError(await coffer(['restore', target, '--to', f, '--identity', keys.identity]), 2, `${f} is not a directory`);
    expectError(await coffer(['drill', target, '--scratch', f, '--identity', keys.identity]), 2, `${f} is not a directory`);
  });

  it('other bad arguments', async () => {
    expectError(await coffer(['backup', join(dir, 'no-such-source'), '--to', join(dir, 't4'), '--recipient', keys.pub]), 2, 'no-such-source');
    expectError(await coffer(['backup', src, '--to', join(dir, 't4'), '--recipient', join(dir, 'no-such.pub')]), 2, 'no-such.pub');
    expectError(await coffer(['backup', src, '--to', join(dir, 't4'), '--recipient', keys.identity + '-not']), 2);
    expectError(await coffer(['backup', src, '--to', join(dir, 't4'), '--recipient', keys.pub, '--compress', 'lzma']), 2, 'lzma');
    expectError(await coffer(['impact', target, '--identity', keys.identity]), 2, '--lost');
    expectError(await coffer(['list', target, '--log-level', 'loud']), 2, 'loud');
    expectError(await coffer(['list', 's3://bucket/prefix']), 2, 's3:');
    expect(await listTree(join(dir, 't4'))).toEqual([]);
  });

  it('with --json a usage error is one JSON object', async () => {
    const e = expectJsonError(await coffer(['backup', src, '--to', join(dir, 't5'), '--recipient', keys.pub, '--volume-size', 'huge', '--json']), 2);
    expect(e.code).toBe('bad-size');
    const u = expectJsonError(await coffer(['list', target, '--bogus', '--json']), 2);
    expect(u.message).toContain('--bogus');
  });

  it('--help and --version exit 0', async () => {
    const h = await ok(['--help']);
    expect(h.stdout).toContain('restore');
    const v = await ok(['--version']);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('bin/coffer as an executable', () => {
  it('starts node with the young-generation cap (PERFORMANCE.md, "The main thread\'s young generation, capped") and malloc\'s tunables, also through a link as npm installs it', async () => {
    const dir = await tempDir('launcher');
    // A preloaded script reports the flags and tunables node was started with: the launcher's second line is the only place they come from.
    const probe = join(dir, 'probe.cjs');
    await writeFile(probe, "process.stderr.write('execArgv=' + JSON.stringify(process.execArgv) + '\\ntunables=' + process.env.GLIBC_TUNABLES + '\\n');\n");
    const link = join(dir, 'coffer');
    await symlink(BIN, link);
    const ours = 'glibc.malloc.trim_threshold=8388608:glibc.malloc.mmap_threshold=2097152';
    for (const command of [BIN, link]) {
      const { stdout, stderr } = await promisify(execFile)(command, ['--version'], { env: { PATH: process.env.PATH, NODE_OPTIONS: `--require ${probe}` } });
      expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      expect(stderr).toContain('execArgv=["--max-semi-space-size=4"]');
      expect(stderr).toContain(`tunables=${ours}\n`);
    }
    // The caller's own tunables come last, so glibc applies them over ours.
    const { stderr } = await promisify(execFile)(BIN, ['--version'], { env: { PATH: process.env.PATH, NODE_OPTIONS: `--require ${probe}`, GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=0' } });
    expect(stderr).toContain(`tunables=${ours}:glibc.malloc.trim_threshold=0\n`);
  });
});
