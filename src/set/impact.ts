/**
 * Which entries a set of lost volumes takes with it: every entry with at
 * least one byte (header or data) in a chunk stored on a lost volume. This is
 * the list an operator needs after a tape goes missing.
 */
import { UsageError } from '../errors.js';
import type { CatalogEntry } from '../format/catalog.js';
import { readCatalog } from '../restore/catalog-reader.js';
import { paddedEnd, volumeOfTarChunk } from '../restore/plan.js';
import type { OpenedSet } from './open-set.js';
import { manifestOf } from './open-set.js';

export interface ImpactResult {
  set: string;
  lost: string[];
  entries: { path: string; type: string; size: number; volumes: string[] }[];
  bytes: number;
}

export async function impactOf(s: OpenedSet, lost: number[]): Promise<ImpactResult> {
  const m = manifestOf(s);
  for (const n of lost) {
    if (!m.volumes.some((v) => v.index === n)) throw new UsageError('no-such-volume', `set ${s.set} has no volume ${n} (it has ${m.volumes.length})`);
  }
  const lostSet = new Set(lost);
  const entries: ImpactResult['entries'] = [];
  let bytes = 0;
  for await (const e of readCatalog(s)) {
    const volumes = volumesOf(e, m.chunkSize, m.volumes).filter((v) => lostSet.has(v));
    if (!volumes.length) continue;
    entries.push({ path: e.path, type: e.type, size: e.size, volumes: volumes.map((v) => m.volumes[v - 1]!.name) });
    bytes += e.size;
  }
  return { set: s.set, lost: lost.map((n) => m.volumes[n - 1]!.name), entries, bytes };
}

function volumesOf(e: CatalogEntry, chunkSize: number, volumes: Parameters<typeof volumeOfTarChunk>[0]): number[] {
  const first = volumeOfTarChunk(volumes, Math.floor(e.offset / chunkSize));
  const last = volumeOfTarChunk(volumes, Math.floor((paddedEnd(e) - 1) / chunkSize));
  if (!first || !last) return [];
  const out: number[] = [];
  for (let v = first.index; v <= last.index; v++) out.push(v);
  return out;
}
