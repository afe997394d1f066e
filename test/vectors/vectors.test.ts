/**
 * Every committed vector, checked with coffer's own reading path, the one
 * `restore --volumes-only` takes: openSetFromVolumes (volume header decode,
 * set id check, unwrapDataKey -> KeyError), then readVolumeChunks (header
 * MAC, volume index and first chunk, frames, AES-256-GCM with the expected
 * index and flag, end chunk, trailing bytes), then plainOf (AES-256-GCM of
 * data chunks, padding, codec, capped at the chunk size). Failures must be the right class with the vector's code,
 * not just "throws". Each vector is read twice: whole, and in 7-byte pieces
 * so headers and frames straddle reads.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { chunkWork } from '../../src/parallel/pool.js';
import { plainOf } from '../../src/restore/tar-source.js';
import { parseIdentity } from '../../src/crypto/identity-file.js';
import type { KeySource } from '../../src/crypto/keys.js';
import { IntegrityError, KeyError } from '../../src/errors.js';
import { volumeName } from '../../src/format/manifest.js';
import { parseSetIdText } from '../../src/format/set-id.js';
import { readVolumeChunks } from '../../src/restore/volume-reader.js';
import { openSetFromVolumes } from '../../src/set/open-set.js';
import { MemoryTarget } from '../helpers/memory-target.js';
import { parseVector } from './lib/vector-file.js';
import type { Vector } from './lib/vector-file.js';

const DATA = fileURLToPath(new URL('./data/', import.meta.url));
const names = readdirSync(DATA).sort();

/** Reads the vector's volume as coffer reads volume `v.volume` of a set; returns the payload's SHA-256. */
async function read(v: Vector, slice: number): Promise<string> {
  const setId = parseSetIdText(v.set);
  if (!setId) throw new Error(`bad set id ${v.set}`);
  const identities = v.identities.map((line) => {
    const parsed = parseIdentity(line);
    if (parsed?.kind !== 'plain') throw new Error(`bad identity ${line}`);
    return parsed.identity;
  });
  const keys: KeySource = { identities, ...(v.passphrase !== undefined ? { passphrase: Buffer.from(v.passphrase, 'utf8') } : {}) };

  // The target holds this one volume under its expected name. The key comes
  // from volume 1's header, so the volume also stands in for volume 1 (every
  // volume of a set carries the same stanzas).
  const target = new MemoryTarget(new Map(), slice);
  target.objects.set(`${v.set}/${volumeName(1)}`, v.volumeBytes);
  target.objects.set(`${v.set}/${volumeName(v.volume)}`, v.volumeBytes);

  const s = await openSetFromVolumes(target, v.set, keys);
  const name = volumeName(v.volume);
  const exp = {
    set: v.set,
    setId,
    name,
    index: v.volume,
    firstChunk: v.firstChunk,
    ...(v.last === 'unknown' ? {} : { last: v.last === 'yes' }),
  };
  const hash = createHash('sha256');
  const work = chunkWork(0);
  for await (const c of readVolumeChunks(target, exp, s.keys)) hash.update(await plainOf(s, work, name, c));
  return hash.digest('hex');
}

describe('test vectors', () => {
  it('are present', () => {
    expect(names.length).toBeGreaterThan(40);
  });

  for (const file of names) {
    const v = parseVector(readFileSync(join(DATA, file)));
    describe(file, () => {
      for (const slice of [0, 7]) {
        it(`${v.expect}${v.code ? ` (${v.code})` : ''}${slice ? `, read in ${slice}-byte pieces` : ''}`, async () => {
          if (v.expect === 'success') {
            expect(await read(v, slice)).toBe(v.payload);
            return;
          }
          expect(v.code, 'failure vectors name the error code').toBeDefined();
          const err = await read(v, slice).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, 'the volume was accepted').toBeDefined();
          const cls = v.expect === 'key failure' ? KeyError : IntegrityError;
          if (!(err instanceof cls)) throw new Error(`expected ${cls.name} ${v.code}, got ${String(err)}`, { cause: err });
          expect(err.code).toBe(v.code);
        });
      }
    });
  }
});
