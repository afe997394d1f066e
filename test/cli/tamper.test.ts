/**
 * Tampering, through the CLI. Each case damages a copy of a signed,
 * multi-volume set and checks that verify without a key (hashes), verify
 * with a key (every chunk) and restore all exit 3 with one error line that
 * names the volume (and chunk), and that the failed restore left no
 * temporary file and no file with wrong content under its final name.
 */
import { appendFile, cp, mkdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, expectJsonError, json, keygen, ok, onlySet, readManifestHeader, tempDir, useTempDirs, volumeFrames, volumeName } from '../helpers/cli.js';
import type { Keys, ManifestHeaderJson } from '../helpers/cli.js';
import { expectNothingWrong, filesIn, restoredPath, writeRandom } from '../helpers/tree.js';

useTempDirs();

let dir: string;
let src: string;
let target: string;
let other: string;
let keys: Keys;
let set: string;
let otherSet: string;
let manifest: ManifestHeaderJson;
let count = 0;

/** A copy of the set's target, damaged by `damage(setDir)`. */
async function tampered(damage: (setDir: string) => Promise<void>, from = () => target): Promise<string> {
  const t = join(dir, `tampered-${++count}`);
  await cp(from(), t, { recursive: true });
  await damage(join(t, (await onlySet(t))));
  return t;
}

async function flipByte(file: string, at: number): Promise<void> {
  const b = await readFile(file);
  b[at] = b[at]! ^ 0x01;
  await writeFile(file, b);
}

const vol = (setDir: string, n: number) => join(setDir, volumeName(n));

interface Expect {
  keyless: (string | RegExp)[];
  keyed: (string | RegExp)[];
  volume?: string;
  chunk?: number;
}

/** verify (no key), verify --identity and restore: all exit 3, naming what is wrong. */
async function expectDetected(t: string, e: Expect): Promise<void> {
  expectError(await coffer(['verify', t]), 3, ...e.keyless);
  expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, ...e.keyed);
  const to = join(t, '..', `${t.split('/').pop()}-restored`);
  expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, ...e.keyed);
  await expectNothingWrong(to, src);
  if (e.volume !== undefined) {
    const err = expectJsonError(await coffer(['verify', t, '--identity', keys.identity, '--json']), 3);
    expect(err.where.volume).toBe(e.volume);
    if (e.chunk !== undefined) expect(err.where.chunk).toBe(e.chunk);
  }
}

beforeAll(async () => {
  dir = await tempDir('tamper');
  src = join(dir, 'src');
  target = join(dir, 'target');
  other = join(dir, 'other');
  keys = await keygen(dir, 'key');
  await mkdir(src);
  await writeFile(join(src, 'a-first.txt'), 'first\n');
  await writeRandom(join(src, 'big.bin'), 1536 * 1024 + 77);
  await writeFile(join(src, 'z-last.txt'), 'last\n');
  const args = ['--recipient', keys.pub, '--chunk-size', '64K', '--volume-size', '512K'];
  await ok(['backup', src, '--to', target, '--sign-key', keys.identity, ...args]);
  // Another set of the same tree with the same key, unsigned.
  await ok(['backup', src, '--to', other, ...args]);
  set = await onlySet(target);
  otherSet = await onlySet(other);
  manifest = (await readManifestHeader(join(target, set))).header;
  expect(manifest.volumes.length).toBeGreaterThanOrEqual(3);
});

describe('tampering is detected and named', () => {
  it('the untouched copy passes (control)', async () => {
    const t = await tampered(async () => {});
    await ok(['verify', t]);
    await ok(['verify', t, '--identity', keys.identity]);
  });

  it('a flipped byte inside a chunk', async () => {
    let chunk = -1;
    const t = await tampered(async (s) => {
      const v = await readFile(vol(s, 2));
      const f = volumeFrames(v).frames[1]!;
      chunk = f.chunk;
      await flipByte(vol(s, 2), f.offset + 4 + Math.floor(f.length / 2));
    });
    await expectDetected(t, {
      keyless: [`set ${set}`, 'volume-000002 does not match its hash'],
      keyed: ['volume-000002', `chunk ${chunk} failed authentication`],
      volume: 'volume-000002',
      chunk,
    });
  });

  it('a flipped byte in a volume header', async () => {
    // Byte 41 is the low byte of the header's first-chunk field.
    const t = await tampered((s) => flipByte(vol(s, 2), 41));
    await expectDetected(t, {
      keyless: ['volume-000002 does not match its hash'],
      keyed: ['volume-000002', 'header failed authentication'],
      volume: 'volume-000002',
    });
  });

  it('a flipped byte in the set id of a volume header', async () => {
    const t = await tampered((s) => flipByte(vol(s, 3), 20));
    await expectDetected(t, { keyless: ['volume-000003 does not match its hash'], keyed: ['volume-000003', 'belongs to set', `not to set ${set}`], volume: 'volume-000003' });
  });

  it('an edited manifest JSON (signed set): detected with and without a key', async () => {
    const t = await tampered(async (s) => {
      const m = await readManifestHeader(s);
      const text = m.bytes.subarray(m.jsonStart, m.jsonEnd).toString('utf8');
      const at = text.indexOf('"size":') + '"size":'.length;
      const digit = text[at]!;
      // Same length, still valid JSON: one digit of volume 1's size changes.
      m.bytes[m.jsonStart + at] = (digit === '9' ? '8' : String(+digit + 1)).charCodeAt(0);
      await writeFile(join(s, 'manifest'), m.bytes);
    });
    expectError(await coffer(['verify', t]), 3, `manifest of set ${set}`, 'signature does not match');
    const to = join(dir, 'restored-edited-manifest');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, `manifest of set ${set}`);
    await expectNothingWrong(to, src);
    const err = expectJsonError(await coffer(['verify', t, '--identity', keys.identity, '--json']), 3);
    expect(err.where.volume).toBe('manifest');
  });

  it('an edited manifest JSON (unsigned set): the key finds it', async () => {
    const t = await tampered(async (s) => {
      const m = await readManifestHeader(s);
      const text = m.bytes.subarray(m.jsonStart, m.jsonEnd).toString('utf8');
      const at = text.indexOf('"created":"') + '"created":"'.length + 3; // last digit of the year
      m.bytes[m.jsonStart + at] = text[at] === '9' ? 0x38 : text.charCodeAt(at) + 1;
      await writeFile(join(s, 'manifest'), m.bytes);
    }, () => other);
    // Without a key and without a signature, only the volumes can be checked.
    await ok(['verify', t]);
    expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, `manifest of set ${otherSet}`, 'failed authentication');
    const to = join(dir, 'restored-edited-unsigned');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, `manifest of set ${otherSet}`);
    await expectNothingWrong(to, src);
  });

  it('a damaged key stanza in the manifest (unsigned set) is tampering, not a wrong key', async () => {
    const t = await tampered(async (s) => {
      const m = await readManifestHeader(s);
      const text = m.bytes.subarray(m.jsonStart, m.jsonEnd).toString('utf8');
      // The last base64url character of the first stanza sits in the wrapped key's tag.
      const at = text.indexOf('"stanzas":["') + '"stanzas":["'.length + 100;
      m.bytes[m.jsonStart + at] = text[at] === 'A' ? 0x42 : 0x41;
      await writeFile(join(s, 'manifest'), m.bytes);
    }, () => other);
    await ok(['verify', t]);
    const err = expectJsonError(await coffer(['verify', t, '--identity', keys.identity, '--json']), 3);
    expect(err.code).toBe('manifest-stanza-tampered');
    const to = join(dir, 'restored-stanza');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, `manifest of set ${otherSet}`, 'key stanzas were altered');
    await expectNothingWrong(to, src);
    // With a key that opens nothing, it is still a key failure.
    const stranger = await keygen(dir, 'stranger');
    expectError(await coffer(['verify', t, '--identity', stranger.identity]), 4, 'cannot open set');
  });

  it('a manifest that is not valid JSON', async () => {
    const t = await tampered(async (s) => {
      const m = await readManifestHeader(s);
      await flipByte(join(s, 'manifest'), m.jsonStart); // '{' becomes 'z'
    });
    expectError(await coffer(['verify', t]), 3, 'manifest', 'not valid JSON');
    expectError(await coffer(['restore', t, '--to', join(dir, 'restored-bad-json'), '--identity', keys.identity]), 3, 'manifest', 'not valid JSON');
  });

  it('a flipped byte in the encrypted catalog inside the manifest', async () => {
    const t = await tampered(async (s) => {
      const m = await readManifestHeader(s);
      // After the JSON: 32-byte MAC, flag, 64-byte signature, then the catalog frames.
      await flipByte(join(s, 'manifest'), m.jsonEnd + 32 + 1 + 64 + 4 + 10);
    });
    const keyless = await coffer(['verify', t, '--json']);
    expectError(await coffer(['verify', t]), 3, `set ${set}`, 'catalog in the manifest does not match its hash');
    expect(expectJsonError(keyless, 3).where.volume).toBe('manifest');
    expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, `manifest of set ${set}`, 'catalog');
    // ls --json streams: it still prints one JSON object, which ends with the error.
    const l = await coffer(['ls', t, '--identity', keys.identity, '--json']);
    expect(expectJsonError(l, 3).message).toContain('catalog');
    const to = join(dir, 'restored-catalog');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, `manifest of set ${set}`, 'catalog');
    await expectNothingWrong(to, src);
  });

  it('a manifest cut short inside its catalog', async () => {
    const t = await tampered(async (s) => {
      const m = await readManifestHeader(s);
      await truncate(join(s, 'manifest'), m.jsonEnd + 32 + 1 + 64 + 40);
    });
    expectError(await coffer(['verify', t]), 3, 'catalog in the manifest does not match its hash');
    const to = join(dir, 'restored-short-manifest');
    expectError(await coffer(['restore', t, '--to', to, '--identity', keys.identity]), 3, `manifest of set ${set}`, 'truncated');
    await expectNothingWrong(to, src);
  });

  it('a volume replaced by random bytes of the same size', async () => {
    const t = await tampered(async (s) => writeRandom(vol(s, 2), manifest.volumes[1]!.size));
    await expectDetected(t, { keyless: ['volume-000002 does not match its hash'], keyed: ['volume-000002', 'not a coffer volume'], volume: 'volume-000002' });
  });

  it('a frame length changed to an impossible value', async () => {
    let chunk = -1;
    const t = await tampered(async (s) => {
      const f = volumeFrames(await readFile(vol(s, 2))).frames[1]!;
      chunk = f.chunk;
      await flipByte(vol(s, 2), f.offset); // the top byte of the big-endian length: +16 MiB
    });
    await expectDetected(t, { keyless: ['volume-000002 does not match its hash'], keyed: ['volume-000002', `chunk ${chunk} has an impossible length`], volume: 'volume-000002', chunk });
  });

  it('a volume truncated at a frame boundary (end chunk and later chunks gone)', async () => {
    let chunk = -1;
    const t = await tampered(async (s) => {
      const f = volumeFrames(await readFile(vol(s, 2))).frames;
      chunk = f[1]!.chunk;
      await truncate(vol(s, 2), f[2]!.offset);
    });
    await expectDetected(t, {
      keyless: ['volume-000002 has the wrong size'],
      keyed: ['volume-000002', `truncated after chunk ${chunk}`],
      volume: 'volume-000002',
    });
  });

  it('a volume truncated inside a frame', async () => {
    let chunk = -1;
    const t = await tampered(async (s) => {
      const f = volumeFrames(await readFile(vol(s, 2))).frames[2]!;
      chunk = f.chunk;
      await truncate(vol(s, 2), f.offset + 4 + 1000);
    });
    await expectDetected(t, {
      keyless: ['volume-000002 has the wrong size'],
      keyed: ['volume-000002', `truncated inside chunk ${chunk}`],
      volume: 'volume-000002',
      chunk,
    });
  });

  it('a volume truncated inside a frame length', async () => {
    let chunk = -1;
    const t = await tampered(async (s) => {
      const f = volumeFrames(await readFile(vol(s, 1))).frames[3]!;
      chunk = f.chunk;
      await truncate(vol(s, 1), f.offset + 2);
    });
    expectError(await coffer(['verify', t, '--identity', keys.identity]), 3, 'volume-000001', `chunk ${chunk}`);
  });

  it('bytes appended after the end chunk of a volume', async () => {
    const t = await tampered((s) => appendFile(vol(s, 2), Buffer.alloc(100, 7)));
    await expectDetected(t, { keyless: ['volume-000002 has the wrong size'], keyed: ['volume-000002', 'after its end chunk'], volume: 'volume-000002' });
  });

  it('the last volume removed', async () => {
    const last = volumeName(manifest.volumes.length);
    const t = await tampered((s) => rm(join(s, last)));
    await expectDetected(t, { keyless: [`${last} is missing`], keyed: [last, 'missing'], volume: last });
  });

  it('two volumes swapped', async () => {
    const t = await tampered(async (s) => {
      await rename(vol(s, 1), join(s, 'tmp'));
      await rename(vol(s, 2), vol(s, 1));
      await rename(join(s, 'tmp'), vol(s, 2));
    });
    await expectDetected(t, {
      keyless: ['volume-000001', 'volume-000002'],
      keyed: ['volume-000001', 'holds volume 2 of the set, not volume 1'],
      volume: 'volume-000001',
    });
  });

  it("a volume replaced by the same-numbered volume of another set made with the same key", async () => {
    const t = await tampered((s) => cp(join(other, otherSet, volumeName(2)), vol(s, 2)));
    await expectDetected(t, {
      keyless: ['volume-000002'],
      keyed: ['volume-000002', `belongs to set ${otherSet}, not to set ${set}`],
      volume: 'volume-000002',
    });
  });

  it('a manifest replaced by the manifest of another set', async () => {
    const t = await tampered((s) => cp(join(other, otherSet, 'manifest'), join(s, 'manifest')));
    expectError(await coffer(['verify', t]), 3, `manifest in folder ${set} belongs to set ${otherSet}`);
    expectError(await coffer(['restore', t, '--to', join(dir, 'restored-foreign-manifest'), '--identity', keys.identity]), 3, 'belongs to set');
  });

  it('--volumes-only also detects a damaged chunk and a missing last volume', async () => {
    let chunk = -1;
    const t1 = await tampered(async (s) => {
      await rm(join(s, 'manifest'));
      const f = volumeFrames(await readFile(vol(s, 2))).frames[0]!;
      chunk = f.chunk;
      await flipByte(vol(s, 2), f.offset + 4 + 5);
    });
    const to1 = join(dir, 'restored-vo-chunk');
    expectError(await coffer(['restore', t1, '--to', to1, '--identity', keys.identity, '--volumes-only']), 3, 'volume-000002', `chunk ${chunk}`);
    await expectNothingWrong(to1, src);
    const last = volumeName(manifest.volumes.length);
    const t2 = await tampered(async (s) => {
      await rm(join(s, 'manifest'));
      await rm(join(s, last));
    });
    const to2 = join(dir, 'restored-vo-last');
    expectError(await coffer(['restore', t2, '--to', to2, '--identity', keys.identity, '--volumes-only']), 3, last, 'missing');
    await expectNothingWrong(to2, src);
  });

  it('a restore that fails midway keeps the files it finished and nothing else', async () => {
    const t = await tampered(async (s) => {
      const f = volumeFrames(await readFile(vol(s, 3))).frames[0]!;
      await flipByte(vol(s, 3), f.offset + 4 + 5);
    });
    const to = join(dir, 'restored-midway');
    const r = await coffer(['restore', t, '--to', to, '--identity', keys.identity, '--json']);
    const err = expectJsonError(r, 3);
    expect(err.where.volume).toBe('volume-000003');
    await expectNothingWrong(to, src);
    // The file before the damage was finished; the one being written when it failed is not there at all.
    expect(await filesIn(restoredPath(to, src))).toEqual(['a-first.txt']);
    const l = json(await ok(['ls', t, '--identity', keys.identity, '--json']));
    expect(l.entries.length).toBe(4);
  });
});
