/**
 * Reading a set's tar stream from its volumes alone (`--volumes-only`) must
 * close every volume it opened however the reading ends: finished, stopped
 * early by the consumer, or failed on a chunk. A volume left open is closed
 * by the garbage collector later, if ever, with a warning on stderr.
 */
import { describe, expect, test } from 'vitest';
import { chunkWork } from '../../src/parallel/pool.js';
import { tarBytes, tarBytesFromVolumes } from '../../src/restore/tar-source.js';
import type { OpenedSet } from '../../src/set/open-set.js';
import { manifestOf, openSet } from '../../src/set/open-set.js';
import { HEADER_MAC_BYTES } from '../../src/format/volume-header.js';
import { MemoryTarget } from '../helpers/memory-target.js';
import { fixture, keys } from '../fuzz/lib/sets.js';

/** A memory target that counts the object reads begun and ended. */
class CountingTarget extends MemoryTarget {
  opened = 0;
  closed = 0;

  override async get(name: string, range?: { start: number; end?: number }) {
    const inner = await super.get(name, range);
    this.opened++;
    const self = this;
    return (async function* () {
      try {
        yield* inner;
      } finally {
        self.closed++;
      }
    })() as never;
  }
}

type Reader = (s: OpenedSet) => AsyncIterable<Buffer>;
const fromVolumes: Reader = (s) => tarBytesFromVolumes(s, chunkWork(0));
const throughManifest: Reader = (s) => tarBytes(s, [{ start: 0, end: manifestOf(s).tarBytes }], chunkWork(0), null);

async function readWith(objects: Map<string, Buffer>, set: string, stopAfter: number, read: Reader): Promise<{ target: CountingTarget; error: unknown }> {
  const target = new CountingTarget(objects);
  const s = await openSet(target, set, keys);
  const closedBefore = target.closed;
  const openedBefore = target.opened;
  let error: unknown;
  let n = 0;
  try {
    for await (const _ of read(s)) if (++n === stopAfter) break;
  } catch (err) {
    error = err;
  }
  target.opened -= openedBefore;
  target.closed -= closedBefore;
  return { target, error };
}

describe('tar bytes, from volumes alone or through the manifest', () => {
  test.each([
    ['volumes alone', fromVolumes],
    ['through the manifest', throughManifest],
  ])('%s: every volume opened is closed, read to the end, stopped early, or failed midway', async (_, read) => {
    const { sets } = await fixture();
    const f = sets[0];

    const whole = await readWith(f.objects, f.set, 0, read);
    expect(whole.error).toBeUndefined();
    expect(whole.target.opened).toBe(f.volumes.length);
    expect(whole.target.closed).toBe(whole.target.opened);

    const early = await readWith(f.objects, f.set, 1, read);
    expect(early.target.opened).toBeGreaterThan(0);
    expect(early.target.closed).toBe(early.target.opened);

    // A byte of the second volume's first chunk flipped: its authentication fails.
    const second = Buffer.from(f.objects.get(f.volumes[1]!)!);
    const headerEnd = second.readUInt32BE(10);
    expect(headerEnd).toBeGreaterThan(HEADER_MAC_BYTES);
    second[headerEnd + 8]! ^= 1;
    const objects = new Map(f.objects).set(f.volumes[1]!, second);
    const failed = await readWith(objects, f.set, 0, read);
    expect(failed.error).toMatchObject({ code: expect.stringMatching(/^chunk-/) });
    expect(failed.target.opened).toBe(2);
    expect(failed.target.closed).toBe(2);
  });
});
