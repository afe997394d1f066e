/**
 * Which bytes of the set's tar stream a restore needs, and where they live.
 * An entry occupies [offset, end) of the tar stream, padded to 512 bytes;
 * entries selected together are merged into ranges, and a range maps to tar
 * chunks (offset / chunk size) and those to volumes through the manifest.
 * Each volume ends with one end chunk, so tar chunk k of volume v has global
 * index k + (v - 1).
 */
import picomatch from 'picomatch';
import type { CatalogEntry } from '../format/catalog.js';
import type { VolumeRecord } from '../format/manifest.js';

export interface TarRange {
  start: number;
  end: number;
}

export function paddedEnd(e: CatalogEntry): number {
  return e.end + ((512 - (e.end % 512)) % 512);
}

/** A predicate for --include globs (all entries when none are given). */
export function includeFilter(globs: string[]): (path: string) => boolean {
  if (!globs.length) return () => true;
  const m = picomatch(globs.map((g) => g.replace(/^\/+/, '')), { dot: true });
  return (path) => m(path) || m(path + '/');
}

/** Merges entries (in archive order) into ranges of the tar stream. */
export class RangeBuilder {
  readonly ranges: TarRange[] = [];

  add(e: CatalogEntry): void {
    const last = this.ranges[this.ranges.length - 1];
    const end = paddedEnd(e);
    if (last && last.end === e.offset) last.end = end;
    else this.ranges.push({ start: e.offset, end });
  }
}

export function firstTarChunk(v: VolumeRecord): number {
  return v.firstChunk - (v.index - 1);
}

export function tarChunkToGlobal(v: VolumeRecord, tarChunk: number): number {
  return tarChunk + (v.index - 1);
}

/** The volume holding a tar chunk. */
export function volumeOfTarChunk(volumes: VolumeRecord[], tarChunk: number): VolumeRecord | undefined {
  let lo = 0;
  let hi = volumes.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = volumes[mid]!;
    const first = firstTarChunk(v);
    if (tarChunk < first) hi = mid - 1;
    else if (tarChunk >= first + v.dataChunks) lo = mid + 1;
    else return v;
  }
  return undefined;
}
