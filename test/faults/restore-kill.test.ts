/**
 * A restore killed with SIGKILL never leaves an incomplete file under its
 * final name (BRIEF "nothing is lost"). Into an empty folder the restore
 * goes through a staging folder, and a kill leaves nothing but that folder;
 * into a folder in use each file goes through a temporary name, and a kill
 * leaves only complete files under final names, beside temporaries.
 *
 * The kill point is deterministic: fixtures/stall-file-writes.cjs, preloaded
 * into the real bin/coffer, blocks the process at the first write to the
 * third file (with --workers 0 files are written one after another, in
 * archive order) and says so in a mark file; the test checks the disk and
 * sends SIGKILL. Nothing waits on a clock.
 *
 * Also here: an empty folder the restore may not write into fails at once,
 * with one line, and leaves nothing.
 */
import { chmod, chown, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, keygen, ok, startCoffer, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys, Started } from '../helpers/cli.js';
import { expectSameTree, isRoot, restoredPath, sha256File, writeRandom } from '../helpers/tree.js';

useTempDirs();

const STALL = fileURLToPath(new URL('./fixtures/stall-file-writes.cjs', import.meta.url));
const FILES = ['f1.bin', 'f2.bin', 'f3.bin', 'f4.bin'];
const STAGING = /^\.coffer-restore-[0-9a-f]{12}$/;
const TEMPORARY = /^\.coffer-restore-[0-9a-f]{12}-[0-9a-z]+$/;

let dir: string;
let keys: Keys;
let src: string;
let target: string;

beforeAll(async () => {
  dir = await tempDir('restore-kill');
  keys = await keygen(dir, 'key');
  src = join(dir, 'src');
  await mkdir(src);
  for (const name of FILES) await writeRandom(join(src, name), 300 * 1024);
  target = join(dir, 'target');
  await ok(['backup', src, '--to', target, '--recipient', keys.pub]);
});

/** Starts a restore into `to` that freezes at its first write to the third file; resolves with that file once frozen. */
async function restoreFrozenAtThirdFile(to: string): Promise<{ run: Started; path: string; bytes: number }> {
  const mark = join(dir, `frozen-${basename(to)}`);
  const run = startCoffer(['restore', target, '--to', to, '--identity', keys.identity, '--workers', '0'], {
    env: { NODE_OPTIONS: `--require ${STALL}`, FAULT_STALL_FILE: '3', FAULT_STALL_MARK: mark },
  });
  let ended: Awaited<Started['done']> | undefined;
  void run.done.then((r) => (ended = r));
  while (!existsSync(mark)) {
    if (ended) expect.fail(`coffer ended before the kill point (exit ${ended.code}, signal ${ended.signal})\n${ended.stderr}`);
    await delay(10); // polling for a condition, not timing the kill
  }
  return { run, ...(JSON.parse(await readFile(mark, 'utf8')) as { path: string; bytes: number }) };
}

async function kill(run: Started): Promise<void> {
  run.child.kill('SIGKILL');
  expect((await run.done).signal).toBe('SIGKILL');
}

/** Runs `check` on the frozen restore, which is killed whatever happens: a failed check must not leave it blocked for good. */
async function whileFrozen(to: string, check: (frozen: { run: Started; path: string; bytes: number }) => Promise<void>): Promise<void> {
  const frozen = await restoreFrozenAtThirdFile(to);
  try {
    await check(frozen);
  } finally {
    frozen.run.child.kill('SIGKILL');
  }
}

describe('restore killed with SIGKILL', () => {
  it('into an empty folder: nothing but the staging folder is left, and the next restore completes', async () => {
    const to = join(dir, 'empty');
    await mkdir(to);
    let names: string[] = [];
    await whileFrozen(to, async ({ run, path, bytes }) => {
      expect(bytes).toBeGreaterThan(0);
      names = await readdir(to);
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(STAGING);
      // The third file is being written under its own name, inside the staging folder.
      expect(path).toBe(join(to, names[0]!, restoredPath('', src), 'f3.bin'));
      await kill(run);
    });
    expect(await readdir(to)).toEqual(names);

    // The folder is no longer empty: the next restore writes in place, and completes.
    await ok(['restore', target, '--to', to, '--identity', keys.identity]);
    await expectSameTree(restoredPath(to, src), src);
    expect((await readdir(to)).sort()).toEqual([...names, restoredPath('', src).split('/')[0]!].sort());
  });

  it('into a folder in use: finished files under their names, the one being written only under a temporary name', async () => {
    const to = join(dir, 'in-use');
    await mkdir(to);
    await writeFile(join(to, 'keep.txt'), 'already here\n');
    const base = restoredPath(to, src);
    await whileFrozen(to, async ({ run, path }) => {
      expect(dirname(path)).toBe(base);
      expect(basename(path)).toMatch(TEMPORARY);
      await kill(run);
    });
    expect(await readFile(join(to, 'keep.txt'), 'utf8')).toBe('already here\n');
    const left = (await readdir(base)).sort();
    expect(left.filter((n) => !TEMPORARY.test(n))).toEqual(['f1.bin', 'f2.bin']);
    for (const name of ['f1.bin', 'f2.bin']) expect(await sha256File(join(base, name))).toBe(await sha256File(join(src, name)));
  });
});

describe('restore into an empty folder it may not write', () => {
  const NOBODY = 65534;
  it.runIf(isRoot)('exit 5 with one line naming the folder, and nothing made', async () => {
    const to = join(dir, 'not-mine');
    await mkdir(to, { mode: 0o755 });
    await chmod(dir, 0o755); // mkdtemp makes it 0700
    await chown(keys.identity, NOBODY, NOBODY);
    try {
      const r = await coffer(['restore', target, '--to', to, '--identity', keys.identity], { uid: NOBODY, gid: NOBODY });
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr.split('\n')[0]).toBe(`coffer: error: failed to create a staging folder in ${to}: permission denied`);
      expect(await readdir(to)).toEqual([]);
    } finally {
      await chown(keys.identity, 0, 0);
      await chmod(dir, 0o700);
    }
  });
});
