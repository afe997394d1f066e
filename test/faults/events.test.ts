/**
 * Logs that monitoring can alert on (docs/OPERATIONS.md): every verify or
 * restore failure, key failure and refused path writes one structured line
 * with its stable `event` and `code` (and `where`), through the real
 * bin/coffer with --log-file. Cases: a tampered chunk (integrity-failure
 * with verify-failed or restore-failed), a wrong key and an identity others
 * can read (key-failure), an untrusted signer (key-failure), a crafted
 * archive entry (restore-path-refused). Out of space (target-failure,
 * backup-failed, restore-failed) is in enospc.test.ts, which needs a mount.
 */
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, expectExit, json, keygen, ok, onlySet, readLog, tempDir, useTempDirs, volumeFrames, volumeName } from '../helpers/cli.js';
import type { Keys, Run } from '../helpers/cli.js';
import { makeSet } from '../helpers/hostile.js';
import { expectNothingWrong, listTree, writeRandom } from '../helpers/tree.js';

useTempDirs();

let dir: string;
let src: string;
let target: string;
let set: string;
let keys: Keys;
let other: Keys;
let logs = 0;

const ERROR = 50;

/** Runs coffer with --log-file and returns the run and the parsed log. */
async function logged(args: string[], code: number): Promise<{ r: Run; log: Record<string, any>[] }> {
  const file = join(dir, 'logs', `${String(++logs).padStart(2, '0')}-${args[0]}.log`);
  const r = await coffer([...args, '--log-file', file]);
  expectExit(r, code);
  const log = await readLog(file);
  // Every line is pino JSON from coffer, with the command it belongs to.
  for (const l of log) expect(l).toMatchObject({ tool: 'coffer', command: args[0], pid: expect.any(Number), level: expect.any(Number) });
  return { r, log };
}

function one(log: Record<string, any>[], event: string): Record<string, any> {
  const found = log.filter((l) => l.event === event);
  if (found.length !== 1) expect.fail(`expected one ${event} line, got ${found.length}:\n${log.map((l) => JSON.stringify(l)).join('\n')}`);
  return found[0]!;
}

beforeAll(async () => {
  dir = await tempDir('faults-events');
  await mkdir(join(dir, 'logs'));
  keys = await keygen(dir, 'key');
  other = await keygen(dir, 'other');
  src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'alpha\n');
  await writeRandom(join(src, 'b.bin'), 200 * 1024);
  target = join(dir, 'target');
  set = json(await ok(['backup', src, '--to', target, '--recipient', keys.pub, '--sign-key', keys.identity, '--chunk-size', '64K', '--json'])).set;
});

describe('a tampered chunk', () => {
  let t: string;
  let chunk: number;

  beforeAll(async () => {
    t = join(dir, 'tampered');
    await cp(target, t, { recursive: true });
    const v = join(t, await onlySet(t), volumeName(1));
    const bytes = await readFile(v);
    const frame = volumeFrames(bytes).frames[1]!; // the second data chunk
    chunk = frame.chunk;
    bytes[frame.offset + 4 + Math.floor(frame.length / 2)]! ^= 0x40;
    await writeFile(v, bytes);
  });

  it('verify with a key: verify-failed and integrity-failure, with code and where (volume, chunk)', async () => {
    const { r, log } = await logged(['verify', t, '--identity', keys.identity], 3);
    expectError(r, 3, 'volume-000001', `chunk ${chunk}`);
    expect(one(log, 'verify-started')).toMatchObject({ set, keyed: true });
    const failed = one(log, 'verify-failed');
    const integrity = one(log, 'integrity-failure');
    for (const l of [failed, integrity]) {
      expect(l).toMatchObject({ level: ERROR, code: expect.any(String), where: { volume: 'volume-000001', chunk } });
    }
    expect(failed.code).toBe(integrity.code);
    expect(log.some((l) => l.event === 'verify-finished')).toBe(false);
  });

  it('verify without a key: verify-failed names the volume and its status, then integrity-failure', async () => {
    const { log } = await logged(['verify', t], 3);
    expect(one(log, 'verify-failed')).toMatchObject({ level: ERROR, set, volume: 'volume-000001', status: expect.any(String) });
    expect(one(log, 'integrity-failure')).toMatchObject({ level: ERROR, code: expect.any(String), where: expect.objectContaining({ set }) });
  });

  it('restore: restore-started, restore-failed and integrity-failure; nothing corrupt left', async () => {
    const to = join(dir, 'restored-tampered');
    const { log } = await logged(['restore', t, '--to', to, '--identity', keys.identity], 3);
    one(log, 'restore-started');
    const failed = one(log, 'restore-failed');
    expect(failed).toMatchObject({ level: ERROR, set, code: expect.any(String), where: { volume: 'volume-000001', chunk } });
    expect(one(log, 'integrity-failure')).toMatchObject({ level: ERROR, code: failed.code, where: { volume: 'volume-000001', chunk } });
    expect(log.some((l) => l.event === 'restore-finished')).toBe(false);
    await expectNothingWrong(to, src);
  });

  it('drill: verify-failed and integrity-failure', async () => {
    const { log } = await logged(['drill', t, '--identity', keys.identity], 3);
    one(log, 'verify-failed');
    one(log, 'integrity-failure');
    expect(log.some((l) => l.event === 'drill-finished')).toBe(false);
  });
});

describe('key failures', () => {
  it('a wrong identity: key-failure with code wrong-key and the set', async () => {
    for (const cmd of [['restore', target, '--to', join(dir, 'r-wrong')], ['verify', target], ['ls', target], ['impact', target, '--lost', '1'], ['drill', target]]) {
      const { r, log } = await logged([...cmd, '--identity', other.identity], 4);
      expectError(r, 4, `the identity given cannot open set ${set}`);
      expect(one(log, 'key-failure')).toMatchObject({ level: ERROR, code: 'wrong-key', where: { set } });
    }
    expect(await listTree(join(dir, 'r-wrong'))).toEqual([]);
  });

  it('an untrusted signer: key-failure with code untrusted-signer, with and without a key', async () => {
    for (const extra of [[], ['--identity', keys.identity]]) {
      const { log } = await logged(['verify', target, '--trust', other.pub, ...extra], 4);
      expect(one(log, 'key-failure')).toMatchObject({ level: ERROR, code: 'untrusted-signer', where: { set, volume: 'manifest' } });
      expect(log.some((l) => l.event === 'verify-finished')).toBe(false);
    }
    const { log } = await logged(['restore', target, '--to', join(dir, 'r-untrusted'), '--identity', keys.identity, '--trust', other.pub], 4);
    expect(one(log, 'key-failure')).toMatchObject({ code: 'untrusted-signer' });
  });

  it('an identity file others can read: key-failure with code identity-permissions', async () => {
    const loose = join(dir, 'loose');
    await writeFile(loose, await readFile(keys.identity));
    await chmod(loose, 0o640);
    const { log } = await logged(['ls', target, '--identity', loose], 4);
    expect(one(log, 'key-failure')).toMatchObject({ level: ERROR, code: 'identity-permissions', where: { path: loose } });
  });
});

describe('a refused path', () => {
  let crafted: string;

  beforeAll(async () => {
    crafted = join(dir, 'crafted');
    const names = ['fine.txt', '../escape.txt', '/abs/evil.txt'];
    await makeSet(crafted, names.map((name) => ({ header: { name, type: 'file' as const }, body: Buffer.from(`body of ${name}\n`) })), keys.pub);
  });

  it('restore: restore-path-refused for each entry (path, reason), then exit 3 and integrity-failure', async () => {
    const to = join(dir, 'r-crafted');
    const { r, log } = await logged(['restore', crafted, '--to', to, '--identity', keys.identity, '--json'], 3);
    expect(json(r).refused.map((x: any) => x.path)).toEqual(['../escape.txt', '/abs/evil.txt']);
    const refused = log.filter((l) => l.event === 'restore-path-refused');
    expect(refused.map((l) => [l.level, l.path, l.reason])).toEqual([
      [ERROR, '../escape.txt', 'path contains ..'],
      [ERROR, '/abs/evil.txt', 'absolute path'],
    ]);
    expect(one(log, 'restore-finished')).toMatchObject({ refused: 2 });
    expect(one(log, 'integrity-failure')).toMatchObject({ level: ERROR, code: 'path-refused', where: { set: json(r).set } });
    expect(await listTree(to)).toEqual(['fine.txt']);
    // '../escape.txt' from the restore folder would land in dir; '/abs/evil.txt' at the root.
    expect(existsSync(join(dir, 'escape.txt'))).toBe(false);
    expect(existsSync('/abs/evil.txt')).toBe(false);
  });

  it('drill: restore-path-refused for each entry, exit 3 and integrity-failure', async () => {
    const { log } = await logged(['drill', crafted, '--identity', keys.identity], 3);
    expect(log.filter((l) => l.event === 'restore-path-refused')).toHaveLength(2);
    expect(one(log, 'integrity-failure')).toMatchObject({ level: ERROR, code: 'path-refused' });
  });
});
