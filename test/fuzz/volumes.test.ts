// Fuzz target: whole volumes. A real set (lib/sets.ts) has one volume
// replaced by a mutation of itself (bit flips, byte and length-field edits
// at header fields and frame boundaries, truncation, insertion, duplicated
// ranges, splices with other volumes of this set and of another set under
// the same identity, random bytes), then is read with the right key: with
// the manifest (tarBytes, whole or in ranges) or from the volumes alone
// (tarBytesFromVolumes), fed to the reader in pieces of varying size.
//
// Properties: the read finishes (timeout, watchdog), stays within memory,
// fails only with an IntegrityError, and when it succeeds it returns exactly
// the original tar bytes: a changed volume is never accepted.
import { chunkWork } from '../../src/parallel/pool.js';
import fc from 'fast-check';
import { IntegrityError } from '../../src/errors.js';
import { tarBytes, tarBytesFromVolumes } from '../../src/restore/tar-source.js';
import { openSet, openSetFromVolumes } from '../../src/set/open-set.js';
import { defineFuzzTarget, fromJson, toJson, typedOutcome } from './lib/harness.js';
import { applyEdits, editsArb } from './lib/mutate.js';
import type { Edit } from './lib/mutate.js';
import { collect, fixture, keys, piece, targetWith } from './lib/sets.js';
import type { FixtureSet, MapTarget } from './lib/sets.js';

interface VolumeCase {
  set: number;
  volume: number;
  edits: Edit[];
  mode: 'manifest' | 'volumes-only' | 'ranges';
  /** Cut points of the tar stream for 'ranges' (paired into ranges). */
  cuts: number[];
  /** Read pieces of this many bytes (0: whole objects). */
  slice: number;
}

const arbitrary: fc.Arbitrary<VolumeCase> = fc.record({
  set: fc.nat(1),
  volume: fc.nat(15),
  edits: editsArb({ splice: true, maxRandom: 9000 }),
  mode: fc.constantFrom('manifest' as const, 'volumes-only' as const, 'ranges' as const),
  cuts: fc.array(fc.nat(40_000), { minLength: 2, maxLength: 6 }),
  slice: fc.constantFrom(0, 0, 1, 3, 13, 512, 4099),
});

function rangesOf(cuts: number[], length: number): { start: number; end: number }[] {
  const points = [...new Set(cuts.map((c) => c % (length + 1)))].sort((a, b) => a - b);
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i + 1 < points.length; i += 2) out.push({ start: points[i]!, end: points[i + 1]! });
  return out.length ? out : [{ start: 0, end: length }];
}

interface Prepared {
  c: VolumeCase;
  f: FixtureSet;
  name: string;
  target: MapTarget;
  changed: boolean;
}

async function prepare(c: VolumeCase): Promise<Prepared> {
  const fx = await fixture();
  const f = fx.sets[c.set % 2]!;
  const name = f.volumes[c.volume % f.volumes.length]!;
  const original = f.objects.get(name)!;
  const donors = fx.sets.flatMap((s) => s.volumes.map((v) => piece(s.objects.get(v)!, 'volume')));
  const mutated = applyEdits(piece(original, 'volume'), c.edits, donors);
  return { c, f, name, target: targetWith(f.objects, { [name]: mutated }, c.slice), changed: !mutated.equals(original) };
}

async function run({ c, f, name, target, changed }: Prepared): Promise<string> {
  let out: Buffer;
  let expected: Buffer;
  try {
    if (c.mode === 'volumes-only') {
      const s = await openSetFromVolumes(target, f.set, keys);
      out = await collect(tarBytesFromVolumes(s, chunkWork(0)));
      expected = f.tar;
    } else {
      const s = await openSet(target, f.set, keys);
      const ranges = c.mode === 'ranges' ? rangesOf(c.cuts, f.tar.length) : [{ start: 0, end: f.tar.length }];
      out = await collect(tarBytes(s, ranges, chunkWork(0)));
      expected = Buffer.concat(ranges.map((r) => f.tar.subarray(r.start, r.end)));
    }
  } catch (err) {
    const outcome = typedOutcome(err, (e) => e instanceof IntegrityError);
    if (!changed) throw new Error(`an unchanged volume failed to read: ${outcome}`, { cause: err });
    return outcome;
  }
  if (!out.equals(expected)) throw new Error(`${name} read back ${out.length} bytes that differ from the original ${expected.length}, without an error`);
  // With the whole stream read, a changed volume must have been refused.
  if (changed && c.mode !== 'ranges') throw new Error(`a changed ${name} was accepted`);
  return changed ? 'ok (changed volume not needed by the ranges)' : 'ok (edits changed nothing)';
}

defineFuzzTarget<VolumeCase, Prepared>({
  name: 'volumes',
  file: 'test/fuzz/volumes.test.ts',
  arbitrary,
  prepare,
  run,
  boundedRuns: 300,
  seedExt: 'json',
  toSeed: toJson,
  fromSeed: (b) => fromJson<VolumeCase>(b),
  setup: async () => {
    await fixture();
  },
});
