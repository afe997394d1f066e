/**
 * A backup killed with SIGKILL never looks complete, never touches an older
 * set, and does not get in the way of the next backup (BRIEF "nothing is
 * lost"; DESIGN "Write ordering", rules 1-4).
 *
 * How the kill points are made deterministic: the real bin/coffer runs with
 * fixtures/stall-writes.mjs preloaded, which freezes the process at the
 * first write to a named file once a byte threshold is on disk, and says so
 * in a mark file. The test then checks that state on disk (the partial file
 * holds that many bytes; the volumes before it are stored) and sends
 * SIGKILL. Nothing waits on a clock and nothing depends on the machine's
 * speed: the process is provably at that point when it dies. Every
 * assertion below must hold whatever the kill point.
 */
import { cp, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectExit, json, keygen, ok, readLog, startCoffer, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys, Run, Started } from '../helpers/cli.js';
import { expectSameTree, restoredPath, sha256File, writeRandom } from '../helpers/tree.js';

useTempDirs();

const STALL = fileURLToPath(new URL('./fixtures/stall-writes.mjs', import.meta.url));
const CHUNK = 64 * 1024;
const VOLUME = 256 * 1024;

let dir: string;
let keys: Keys;
/** The tree of the older, complete set. */
let srcOld: string;
/** The larger tree whose backup gets killed (about ten volumes). */
let srcBig: string;
/** A target holding one complete set of srcOld; copied for every kill point. */
let template: string;
let olderSet: string;

async function hashFolder(folder: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(folder)).sort()) out[name] = await sha256File(join(folder, name));
  return out;
}

/** Waits until `mark` exists (the child is frozen) or the child ends (a failure). */
async function frozen(mark: string, run: Started): Promise<{ path: string; bytes: number }> {
  let ended: Awaited<Started['done']> | undefined;
  void run.done.then((r) => (ended = r));
  while (!existsSync(mark)) {
    if (ended) expect.fail(`coffer ended before the kill point (exit ${ended.code}, signal ${ended.signal})\n${ended.stderr}`);
    await delay(10); // polling for a condition, not timing the kill
  }
  return JSON.parse(await readFile(mark, 'utf8')) as { path: string; bytes: number };
}

interface KillPoint {
  name: string;
  /** Regular expression for the basename of the file whose write freezes the backup. */
  file: string;
  /** Bytes that must be in that file first. */
  after: number;
  /** Volumes stored under their final names at that point. */
  stored: number;
}

/** A fixed seed picks a byte inside volume 4: a "random" point that replays the same way on every run. */
const seeded = (() => {
  let t = (0x5eed + 0x6d2b79f5) >>> 0; // one step of mulberry32
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  // Within the first half: how full a volume gets depends on frame sizes (padding), not on VOLUME alone.
  return 1 + (((t ^ (t >>> 14)) >>> 0) % (VOLUME / 2));
})();

const POINTS: KillPoint[] = [
  { name: 'right after start, before the first byte of volume 1', file: '^\\.volume-000001\\.partial-[0-9a-f]{12}$', after: 0, stored: 0 },
  { name: 'with volume 1 half written', file: '^\\.volume-000001\\.partial-[0-9a-f]{12}$', after: VOLUME / 2, stored: 0 },
  { name: 'between volumes: volume 1 stored, volume 2 not begun', file: '^\\.volume-000002\\.partial-[0-9a-f]{12}$', after: 0, stored: 1 },
  { name: `inside volume 4 at a seeded byte (${seeded})`, file: '^\\.volume-000004\\.partial-[0-9a-f]{12}$', after: seeded, stored: 3 },
  { name: 'while the manifest is written, every volume stored', file: '^\\.manifest\\.partial-[0-9a-f]{12}$', after: 1, stored: -1 },
];

beforeAll(async () => {
  dir = await tempDir('faults-kill');
  keys = await keygen(dir, 'key');
  srcOld = join(dir, 'old');
  await mkdir(join(srcOld, 'docs'), { recursive: true });
  await writeFile(join(srcOld, 'docs', 'a.txt'), 'the older set\n');
  await writeRandom(join(srcOld, 'docs', 'b.bin'), 300 * 1024);
  srcBig = join(dir, 'big');
  await mkdir(srcBig);
  // Random data does not compress: ten 256 KiB volumes, and a catalog with enough entries to span writes.
  for (let i = 0; i < 10; i++) await writeRandom(join(srcBig, `file-${String(i).padStart(2, '0')}.bin`), 230 * 1024);
  for (let i = 0; i < 200; i++) await writeFile(join(srcBig, `small-${String(i).padStart(3, '0')}.txt`), `small ${i}\n`);
  template = join(dir, 'template');
  olderSet = json(await ok(['backup', srcOld, '--to', template, '--recipient', keys.pub, '--sign-key', keys.identity, '--json'])).set;
});

describe.each(POINTS)('backup killed with SIGKILL $name', (point) => {
  let target: string;
  let killedSet: string;
  let olderBefore: Record<string, string>;
  let log: string;

  beforeAll(async () => {
    const here = join(dir, `point-${POINTS.indexOf(point)}`);
    await mkdir(here);
    target = join(here, 'target');
    await cp(template, target, { recursive: true, preserveTimestamps: true });
    olderBefore = await hashFolder(join(target, olderSet));
    const mark = join(here, 'frozen');
    log = join(here, 'backup.log');
    const tmp = join(here, 'tmp');
    await mkdir(tmp);
    const run = startCoffer(
      ['backup', srcBig, '--to', target, '--recipient', keys.pub, '--sign-key', keys.identity, '--volume-size', String(VOLUME), '--chunk-size', String(CHUNK), '--log-file', log],
      { env: { NODE_OPTIONS: `--import ${pathToFileURL(STALL).href}`, FAULT_STALL_NAME: point.file, FAULT_STALL_AFTER: String(point.after), FAULT_STALL_MARK: mark, TMPDIR: tmp } },
    );
    const at = await frozen(mark, run);

    // The state on disk is the one named, before the kill.
    const sets = (await readdir(target)).filter((n) => n !== olderSet);
    expect(sets).toHaveLength(1);
    killedSet = sets[0]!;
    expect(at.path.startsWith(join(target, killedSet) + '/')).toBe(true);
    expect((await stat(at.path)).size).toBe(at.bytes);
    expect(at.bytes).toBeGreaterThanOrEqual(point.after);
    const names = await readdir(join(target, killedSet));
    const volumes = names.filter((n) => /^volume-\d{6}$/.test(n));
    if (point.stored >= 0) expect(volumes.length).toBe(point.stored);
    else expect(volumes.length).toBeGreaterThanOrEqual(10); // the manifest comes only after every volume
    expect(names).not.toContain('manifest');

    run.child.kill('SIGKILL');
    const r = await run.done;
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('');
  });

  it('leaves no manifest, only whole volumes and at most one hidden partial file', async () => {
    const names = (await readdir(join(target, killedSet))).sort();
    expect(names).not.toContain('manifest');
    const hidden = names.filter((n) => n.startsWith('.'));
    const visible = names.filter((n) => !n.startsWith('.'));
    expect(hidden.length).toBeLessThanOrEqual(1);
    for (const h of hidden) expect(h).toMatch(/^\.(volume-\d{6}|manifest)\.partial-[0-9a-f]{12}$/);
    // Stored volumes are numbered from 1 without gaps: each was renamed into place whole.
    expect(visible).toEqual(visible.map((_, i) => `volume-${String(i + 1).padStart(6, '0')}`));
    for (const v of visible) expect((await stat(join(target, killedSet, v))).size).toBeLessThanOrEqual(VOLUME);
  });

  it('the log shows the backup started and neither finished nor reported failure', async () => {
    const events = (await readLog(log)).map((l) => l.event).filter(Boolean);
    expect(events).toContain('backup-started');
    expect(events).not.toContain('backup-finished');
    expect(events).not.toContain('backup-failed'); // SIGKILL leaves no time for it
  });

  it('list shows no complete set for the killed run: INCOMPLETE when volumes were stored, else nothing', async () => {
    const l = json(await ok(['list', target, '--json']));
    const complete = l.sets.filter((s: any) => s.complete).map((s: any) => s.set);
    expect(complete).toEqual([olderSet]);
    const killed = l.sets.find((s: any) => s.set === killedSet);
    const anyStored = (await readdir(join(target, killedSet))).some((n) => !n.startsWith('.'));
    if (anyStored) {
      expect(killed).toMatchObject({ complete: false });
      const line = (await ok(['list', target])).stdout.split('\n').find((x) => x.includes(killedSet));
      expect(line).toContain('INCOMPLETE');
    } else {
      expect(killed).toBeUndefined();
    }
  });

  it('verify and restore without SET pick the older set, which is byte-for-byte untouched', async () => {
    expect(await hashFolder(join(target, olderSet))).toEqual(olderBefore);
    expect(json(await ok(['verify', target, '--trust', keys.pub, '--json'])).set).toBe(olderSet);
    expect(json(await ok(['verify', target, '--identity', keys.identity, '--json'])).set).toBe(olderSet);
    const to = join(target, '..', 'restored');
    expect(json(await ok(['restore', target, '--to', to, '--identity', keys.identity, '--json'])).set).toBe(olderSet);
    await expectSameTree(restoredPath(to, srcOld), srcOld);
    expect(existsSync(restoredPath(to, srcBig))).toBe(false);
    // The killed set itself, named explicitly, is refused as incomplete (exit 3), never restored.
    if (point.stored !== 0) {
      const r: Run = await coffer(['verify', target, killedSet]);
      expectExit(r, 3);
      expect(r.stderr).toContain(`set ${killedSet} has no manifest`);
    }
  });

  it('the next backup works and the older set is still untouched', async () => {
    const next = json(await ok(['backup', srcOld, '--to', target, '--recipient', keys.pub, '--sign-key', keys.identity, '--volume-size', String(VOLUME), '--chunk-size', String(CHUNK), '--json']));
    expect([olderSet, killedSet]).not.toContain(next.set);
    const l = json(await ok(['list', target, '--json']));
    expect(l.sets.filter((s: any) => s.complete).map((s: any) => s.set)).toEqual([olderSet, next.set]);
    expect(json(await ok(['verify', target, '--identity', keys.identity, '--json'])).set).toBe(next.set);
    expect(await hashFolder(join(target, olderSet))).toEqual(olderBefore);
  });
});
