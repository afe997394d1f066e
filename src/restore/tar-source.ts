/**
 * Volumes -> the bytes of the set's tar stream within the ranges asked for.
 * Volumes are read in order, and only those holding a needed chunk; chunks
 * outside the ranges are skipped without decrypting. Every chunk read is
 * authenticated, decrypted and decompressed within the chunk size on the
 * worker pool, several at once, and length-checked in order.
 */
import { IntegrityError } from '../errors.js';
import { volumeName } from '../format/manifest.js';
import type { OpenedSet } from '../set/open-set.js';
import { manifestOf } from '../set/open-set.js';
import type { ChunkWork } from '../parallel/pool.js';
import { orderedMap } from '../stream/ordered-map.js';
import { chunkTampered, readVolumeChunks } from './volume-reader.js';
import type { ChunkMemory } from './chunk-memory.js';
import type { DataChunk, VolumeEnd } from './volume-reader.js';
import { firstTarChunk } from './plan.js';
import type { TarRange } from './plan.js';

/**
 * A data chunk's plaintext; fails as the volume reader would have, naming
 * volume and chunk. With `memory`, the chunk was read into it and is
 * decompressed into it.
 */
export async function plainOf(s: OpenedSet, work: ChunkWork, volume: string, c: DataChunk, memory?: ChunkMemory): Promise<Buffer> {
  const r = await work.decode(s.keys.opener.dataFrame(c.volumeIndex, c.chunkIndex), c.sealed, c.chunkSize, memory?.take());
  if ('plain' in r) {
    if (r.spare) memory!.give(r.spare);
    return r.plain;
  }
  if (r.failed === 'authentication') throw chunkTampered({ set: s.set, name: volume }, c.chunkIndex);
  throw new IntegrityError('chunk-corrupt', `${volume}: chunk ${c.chunkIndex} does not decompress`, { where: { set: s.set, volume, chunk: c.chunkIndex } });
}

/**
 * Tar bytes of the given ranges (sorted, disjoint), using the manifest's
 * volume list. The volumes' SHA-256s in the manifest are not checked here:
 * every chunk used is authenticated, and its entries are checked against the
 * catalog (docs/DESIGN.md, "What keyed verify checks"). With `memory`,
 * chunks move through its buffers, and each view yielded is lent until the
 * reader releases it.
 */
export async function* tarBytes(s: OpenedSet, ranges: TarRange[], work: ChunkWork, memory?: ChunkMemory): AsyncGenerator<Buffer> {
  const m = manifestOf(s);
  const size = m.chunkSize;
  let ri = 0; // first range not yet fully produced
  let wi = 0; // first range that may still want a chunk (chunks are asked about in order)
  const wantTar = (k: number): boolean => {
    while (wi < ranges.length && ranges[wi]!.end <= k * size) wi++;
    return wi < ranges.length && ranges[wi]!.start < (k + 1) * size;
  };
  for (const v of m.volumes) {
    if (ri >= ranges.length) return;
    const first = firstTarChunk(v);
    if (ranges[ri]!.start >= (first + v.dataChunks) * size) continue;
    const exp = { set: s.set, setId: s.setId, name: v.name, index: v.index, firstChunk: v.firstChunk, size: v.size, last: v.index === m.volumes.length };
    const chunks = readVolumeChunks(s.target, exp, s.keys, (g) => wantTar(g - (v.index - 1)), memory);
    for await (const { c, plain } of orderedMap(chunks, decodeWindow(work), async (c) => ({ c, plain: await plainOf(s, work, v.name, c, memory) }))) {
      const chunkStart = (c.chunkIndex - (v.index - 1)) * size;
      const expected = Math.min(size, m.tarBytes - chunkStart);
      if (plain.length !== expected) throw new IntegrityError('chunk-corrupt', `${v.name}: chunk ${c.chunkIndex} holds ${plain.length} bytes, expected ${expected}`, { where: { set: s.set, volume: v.name, chunk: c.chunkIndex } });
      const chunkEnd = chunkStart + plain.length;
      for (let j = ri; j < ranges.length && ranges[j]!.start < chunkEnd; j++) {
        const from = Math.max(ranges[j]!.start, chunkStart) - chunkStart;
        const to = Math.min(ranges[j]!.end, chunkEnd) - chunkStart;
        if (to > from) yield memory ? memory.lend(plain.subarray(from, to)) : plain.subarray(from, to);
      }
      while (ri < ranges.length && ranges[ri]!.end <= chunkEnd) ri++;
    }
  }
}

/** Chunks decoded at once: every worker busy while the main thread reads the next. */
export function decodeWindow(work: ChunkWork): number {
  return Math.max(2, work.parallelism * 2);
}

/** Every tar byte of a set, from its volumes alone (no manifest): volume 1, 2, ... until one ends the set. */
export async function* tarBytesFromVolumes(s: OpenedSet, work: ChunkWork): AsyncGenerator<Buffer> {
  let nextChunk = 0;
  let shortSeen: string | undefined;
  for (let index = 1; ; index++) {
    const name = volumeName(index);
    const it = readVolumeChunks(s.target, { set: s.set, setId: s.setId, name, index, firstChunk: nextChunk }, s.keys);
    let r: IteratorResult<DataChunk, VolumeEnd>;
    try {
      while (!(r = await it.next()).done) {
        const c = r.value;
        // Only the set's last chunk may be shorter than the chunk size.
        if (shortSeen) throw new IntegrityError('chunk-corrupt', `${shortSeen} is shorter than the chunk size but is not the last`, { where: { set: s.set, volume: name, chunk: c.chunkIndex } });
        const plain = await plainOf(s, work, name, c);
        if (plain.length < c.chunkSize) shortSeen = `${name}: chunk ${c.chunkIndex}`;
        yield plain;
      }
    } finally {
      // Stopped early, or a chunk failed here: the volume is closed now, not by the garbage collector.
      await it.return(undefined as never);
    }
    if (r.value.endsSet) return;
    nextChunk = r.value.nextChunk;
  }
}
