/**
 * Multi-volume sets: 64 KiB chunks and 640 KiB volumes, so a few MiB make
 * several volumes and one file spans most of them. impact --lost is
 * cross-checked against ls --json and the manifest, and then against what a
 * restore can and cannot do with the volume gone; --include reads only the
 * volumes it needs; --volumes-only restores without the manifest.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, json, keygen, ok, onlySet, readManifestHeader, tempDir, useTempDirs, volumeName } from '../helpers/cli.js';
import type { Keys, ManifestHeaderJson } from '../helpers/cli.js';
import { expectSameTree, filesIn, restoredPath, sha256File, writeRandom } from '../helpers/tree.js';

useTempDirs();

const CHUNK = 64 * 1024;
const VOLUME = 640 * 1024;

let dir: string;
let src: string;
let target: string;
let keys: Keys;
let set: string;
let manifest: ManifestHeaderJson;
let entries: any[];
const prefix = () => src.slice(1);
const rel = (archivePath: string) => archivePath.slice(prefix().length + 1);

/** Tar byte range of each volume, from the manifest's data chunk counts alone. */
function volumeRanges(m: ManifestHeaderJson): { index: number; start: number; end: number }[] {
  let chunk = 0;
  return m.volumes.map((v) => {
    const r = { index: v.index, start: chunk * m.chunkSize, end: (chunk + v.dataChunks) * m.chunkSize };
    chunk += v.dataChunks;
    return r;
  });
}

/** Volumes an entry has bytes on: its header(s), data and padding, [offset, end rounded up to 512). */
function volumesOf(e: { offset: number; end: number }, m: ManifestHeaderJson): number[] {
  const end = Math.ceil(e.end / 512) * 512;
  return volumeRanges(m).filter((v) => e.offset < v.end && end > v.start).map((v) => v.index);
}

async function copyTarget(name: string): Promise<string> {
  const t = join(dir, name);
  await cp(target, t, { recursive: true });
  return t;
}

beforeAll(async () => {
  dir = await tempDir('multivolume');
  src = join(dir, 'src');
  target = join(dir, 'target');
  keys = await keygen(dir, 'key');
  await mkdir(join(src, 'small'), { recursive: true });
  await mkdir(join(src, 'tail'));
  await writeRandom(join(src, 'big.bin'), 2 * 1024 * 1024 + 300_001);
  await writeRandom(join(src, 'mid.bin'), 300 * 1024);
  for (const n of ['a', 'b', 'c']) await writeFile(join(src, 'small', `${n}.txt`), `${n}\n`.repeat(100));
  for (const n of ['x', 'y']) await writeRandom(join(src, 'tail', `${n}.bin`), 20_000);
  await ok(['backup', src, '--to', target, '--recipient', keys.pub, '--sign-key', keys.identity, '--chunk-size', '64K', '--volume-size', '640K']);
  set = await onlySet(target);
  manifest = (await readManifestHeader(join(target, set))).header;
  entries = json(await ok(['ls', target, '--identity', keys.identity, '--json'])).entries;
});

describe('multi-volume sets', () => {
  it('writes several volumes no larger than --volume-size, and one file spans them', async () => {
    expect(manifest.chunkSize).toBe(CHUNK);
    expect(manifest.volumes.length).toBeGreaterThanOrEqual(4);
    for (const v of manifest.volumes) expect(v.size).toBeLessThanOrEqual(VOLUME);
    const big = entries.find((e) => rel(e.path) === 'big.bin');
    expect(volumesOf(big, manifest).length).toBeGreaterThanOrEqual(3);
    const list = json(await ok(['list', target, '--json']));
    expect(list.sets[0]).toMatchObject({ set, complete: true, volumes: manifest.volumes.length });
  });

  it('ls --json names the volume and chunk where each entry starts', () => {
    const ranges = volumeRanges(manifest);
    for (const e of entries) {
      const holder = ranges.find((r) => e.offset >= r.start && e.offset < r.end)!;
      expect(e.volume, e.path).toBe(volumeName(holder.index));
      expect(e.chunk).toBe(Math.floor(e.offset / CHUNK));
      expect(e.chunkOffset).toBe(e.offset % CHUNK);
    }
  });

  it('verify (with and without a key) and a full restore pass', async () => {
    const v = json(await ok(['verify', target, '--json']));
    expect(v.volumes.map((x: any) => x.status)).toEqual(manifest.volumes.map(() => 'ok'));
    await ok(['verify', target, '--identity', keys.identity]);
    const to = join(dir, 'restored');
    await ok(['restore', target, '--to', to, '--identity', keys.identity]);
    await expectSameTree(restoredPath(to, src), src);
  });

  it('impact --lost N lists exactly the entries with bytes on volume N', async () => {
    for (const v of manifest.volumes) {
      const r = json(await ok(['impact', target, '--lost', String(v.index), '--identity', keys.identity, '--json']));
      const expected = entries.filter((e) => volumesOf(e, manifest).includes(v.index)).map((e) => e.path);
      expect(r.entries.map((e: any) => e.path), `volume ${v.index}`).toEqual(expected);
      expect(r.lost).toEqual([v.name]);
      for (const e of r.entries) expect(e.volumes).toEqual([v.name]);
      // Every entry that ls says starts on this volume is in the list.
      for (const e of entries.filter((x) => x.volume === v.name)) expect(expected).toContain(e.path);
    }
    const last = manifest.volumes.length;
    const both = json(await ok(['impact', target, '--lost', `1,${last}`, '--identity', keys.identity, '--json']));
    expect(both.entries.map((e: any) => e.path)).toEqual(entries.filter((e) => volumesOf(e, manifest).some((n) => n === 1 || n === last)).map((e) => e.path));
    const plain = await ok(['impact', target, '--lost', '2', '--identity', keys.identity]);
    expect(plain.stdout.trim().split('\n')).toEqual(entries.filter((e) => volumesOf(e, manifest).includes(2)).map((e) => e.path));
    expect(plain.stderr).toContain('volume-000002');
    expectError(await coffer(['impact', target, '--lost', String(last + 1), '--identity', keys.identity]), 2, `has no volume ${last + 1}`);
    expectError(await coffer(['impact', target, '--lost', 'two', '--identity', keys.identity]), 2, '--lost');
  });

  it('with volume N gone, exactly the impact list is lost: the other files still restore', async () => {
    // Volumes whose loss takes some files but not all (where the layout puts file bytes depends on padding).
    const files = entries.filter((e) => e.type === 'file');
    const partial: number[] = [];
    for (const v of manifest.volumes) {
      const hit = json(await ok(['impact', target, '--lost', String(v.index), '--identity', keys.identity, '--json'])).entries.filter((e: any) => e.type === 'file').length;
      if (hit > 0 && hit < files.length) partial.push(v.index);
    }
    expect(partial.length).toBeGreaterThanOrEqual(2);
    for (const n of [partial[0]!, partial[partial.length - 1]!]) {
      const t = await copyTarget(`lost-${n}`);
      await rm(join(t, set, volumeName(n)));
      const lost = new Set(json(await ok(['impact', t, '--lost', String(n), '--identity', keys.identity, '--json'])).entries.map((e: any) => e.path));
      const safe = files.filter((e) => !lost.has(e.path));
      const gone = files.filter((e) => lost.has(e.path));
      expect(safe.length).toBeGreaterThan(0);
      expect(gone.length).toBeGreaterThan(0);
      const to = join(dir, `restored-without-${n}`);
      await ok(['restore', t, '--to', to, '--identity', keys.identity, ...safe.flatMap((e) => ['--include', e.path])]);
      const base = restoredPath(to, src);
      expect((await filesIn(base)).sort()).toEqual(safe.map((e) => rel(e.path)).sort());
      for (const e of safe) expect(await sha256File(join(base, rel(e.path)))).toBe(e.sha256);
      const r = await coffer(['restore', t, '--to', join(dir, `restored-lost-${n}`), '--identity', keys.identity, '--include', gone[0].path]);
      expectError(r, 3, volumeName(n), 'missing');
    }
  });

  it('restore --include selects only matching entries and reads only the volumes holding them', async () => {
    const wanted = entries.filter((e) => rel(e.path).startsWith('small/'));
    const needed = new Set(wanted.flatMap((e) => volumesOf(e, manifest)));
    const t = await copyTarget('include-only');
    for (const v of manifest.volumes) if (!needed.has(v.index)) await rm(join(t, set, v.name));
    expect(needed.size).toBeLessThan(manifest.volumes.length);
    const to = join(dir, 'restored-include');
    const r = json(await ok(['restore', t, '--to', to, '--identity', keys.identity, '--include', '**/small/*', '--json']));
    expect(r.files).toBe(3);
    const base = restoredPath(to, src);
    expect((await filesIn(base)).sort()).toEqual(['small/a.txt', 'small/b.txt', 'small/c.txt']);
    for (const e of wanted.filter((x) => x.type === 'file')) expect(await sha256File(join(base, rel(e.path)))).toBe(e.sha256);
  });

  it('restore --volumes-only restores everything after the manifest is deleted', async () => {
    const t = await copyTarget('no-manifest');
    await rm(join(t, set, 'manifest'));
    const l = json(await ok(['list', t, '--json']));
    expect(l.sets).toEqual([expect.objectContaining({ set, complete: false, volumes: manifest.volumes.length })]);
    expectError(await coffer(['restore', t, '--to', join(dir, 'nope'), '--identity', keys.identity]), 2, 'no complete set');
    expectError(await coffer(['restore', t, set, '--to', join(dir, 'nope'), '--identity', keys.identity]), 3, `set ${set} has no manifest`);
    expectError(await coffer(['restore', t, '--to', join(dir, 'nope'), '--identity', keys.identity, '--volumes-only', '--include', '**/small/*']), 2, '--include');
    const to = join(dir, 'restored-volumes-only');
    await ok(['restore', t, '--to', to, '--identity', keys.identity, '--volumes-only']);
    await expectSameTree(restoredPath(to, src), src);
  });
});
