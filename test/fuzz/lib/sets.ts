/**
 * Small real sets for the stream-level targets, written by coffer's own
 * writer (writeSet) into memory: 4 KiB chunks and 6,000-byte volumes, so a
 * 34 KB tar stream spreads over several volumes; signed; one recipient. Set
 * A compresses, set B also pads (--pad). The tar stream is deterministic, so
 * every build has the same layout (only keys and set ids differ) and a kept
 * seed's edits land on the same structures.
 */
import { createHash } from 'node:crypto';
import { chunkWork } from '../../../src/parallel/pool.js';
import { MemoryTarget as MapTarget } from '../../helpers/memory-target.js';
import { writeSet } from '../../../src/backup/run.js';
import { identityFromSeed } from '../../../src/crypto/keys.js';
import type { Identity, KeySource } from '../../../src/crypto/keys.js';
import { FRAME_PREFIX_BYTES } from '../../../src/format/chunk.js';
import type { CatalogEntry } from '../../../src/format/catalog.js';
import { MANIFEST_MAC_BYTES, MANIFEST_PREFIX_BYTES, SIGNATURE_BYTES } from '../../../src/format/manifest.js';
import { HEADER_MAC_BYTES } from '../../../src/format/volume-header.js';
import { parseSetIdText } from '../../../src/format/set-id.js';
import { silentLogger } from '../../../src/log.js';
import { noProgress } from '../../../src/progress.js';
import { tarBytes } from '../../../src/restore/tar-source.js';
import { openSet } from '../../../src/set/open-set.js';
import { MANIFEST_NAME } from '../../../src/set/manifest-io.js';
import type { Piece } from './mutate.js';

export { MapTarget };
import { contentOf, packTar } from './tar.js';
import type { TarEntryInput } from './tar.js';

export const CHUNK_SIZE = 4096;
export const VOLUME_SIZE = 6000;

const fixedBytes = (label: string, n = 32) => createHash('sha256').update(`coffer fuzz: ${label}`).digest().subarray(0, n);

/** Deterministic bytes of any length. */
export function streamBytes(label: string, n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < n; i++) parts.push(fixedBytes(`${label} ${i}`));
  return Buffer.concat(parts).subarray(0, n);
}

export const identity: Identity = identityFromSeed(fixedBytes('identity'));
export const otherIdentity: Identity = identityFromSeed(fixedBytes('other identity'));
export const keys: KeySource = { identities: [identity] };

const MTIME = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
const owner = { uid: 1000, gid: 1000, uname: 'op', gname: 'op', mtime: MTIME };

export const FIXTURE_ENTRIES: TarEntryInput[] = [
  { header: { name: 'srv', type: 'directory', mode: 0o755, ...owner } },
  { header: { name: 'srv/notes.txt', type: 'file', mode: 0o644, ...owner }, body: Buffer.from(Array.from({ length: 60 }, (_, i) => `note ${i}: rotate the tapes on friday\n`).join('')) },
  { header: { name: 'srv/random.bin', type: 'file', mode: 0o600, ...owner }, body: streamBytes('random', 11000) },
  { header: { name: 'srv/zeros.bin', type: 'file', mode: 0o644, ...owner }, body: Buffer.alloc(12000) },
  { header: { name: `srv/${'deep/'.repeat(25)}long-name.txt`, type: 'file', mode: 0o644, ...owner }, body: Buffer.from('deep\n') },
  { header: { name: 'srv/link', type: 'symlink', linkname: 'notes.txt', mode: 0o777, ...owner } },
  { header: { name: 'srv/hard', type: 'link', linkname: 'srv/notes.txt', mode: 0o644, ...owner } },
  { header: { name: 'srv/sub-second.txt', type: 'file', mode: 0o640, ...owner, pax: { mtime: '1767323045.25' } }, body: Buffer.from('x') },
  { header: { name: 'srv/empty', type: 'file', mode: 0o644, ...owner } },
];


export interface FixtureSet {
  set: string;
  setId: Buffer;
  dataKey: Buffer;
  pad: boolean;
  objects: Map<string, Buffer>;
  /** Object names of the volumes, in order. */
  volumes: string[];
  manifest: string;
  tar: Buffer;
  catalog: CatalogEntry[];
}

export interface Fixture {
  sets: [FixtureSet, FixtureSet];
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of source) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

/** Writes one set with coffer's writer and checks that it reads back. */
export async function buildSet(tar: Buffer, catalog: CatalogEntry[], o: { pad: boolean; volumeSize?: number; signed?: boolean }): Promise<FixtureSet> {
  const target = new MapTarget();
  const r = await writeSet(
    {
      target,
      recipients: [identity.public],
      ...(o.signed === false ? {} : { signer: identity }),
      volumeSize: o.volumeSize ?? VOLUME_SIZE,
      chunkSize: CHUNK_SIZE,
      compression: 'deflate',
      pad: o.pad,
      label: 'fuzz',
      log: silentLogger,
      progress: noProgress,
    },
    contentOf(tar, catalog),
  );
  const s = await openSet(target, r.set, keys);
  return {
    set: r.set,
    setId: parseSetIdText(r.set)!,
    dataKey: s.dataKey,
    pad: o.pad,
    objects: target.objects,
    volumes: r.volumes.map((v) => `${r.set}/${v.name}`),
    manifest: `${r.set}/${MANIFEST_NAME}`,
    tar,
    catalog,
  };
}

let cached: Promise<Fixture> | undefined;

export function fixture(): Promise<Fixture> {
  cached ??= (async () => {
    const { tar, records } = await packTar(FIXTURE_ENTRIES);
    const a = await buildSet(tar, records, { pad: false });
    const b = await buildSet(tar, records, { pad: true });
    for (const f of [a, b]) {
      const s = await openSet(new MapTarget(f.objects), f.set, keys);
      const back = await collect(tarBytes(s, [{ start: 0, end: tar.length }], chunkWork(0)));
      if (!back.equals(tar)) throw new Error('fixture set does not read back');
      if (f.volumes.length < 3) throw new Error(`fixture set has only ${f.volumes.length} volumes`);
    }
    return { sets: [a, b] };
  })();
  return cached;
}

/** The same objects with some replaced, read in pieces of `slice` bytes. */
export function targetWith(base: Map<string, Buffer>, overrides: Record<string, Buffer>, slice = 0): MapTarget {
  const objects = new Map(base);
  for (const [k, v] of Object.entries(overrides)) objects.set(k, v);
  return new MapTarget(objects, slice);
}

/** Landmarks of a volume: header fields, stanzas, MAC, then each frame's length, body, tag and end. */
export function volumeLandmarks(v: Buffer): number[] {
  const marks = [0, 8, 10, 14, 30, 34, 42, 46, 48];
  const headerEnd = v.readUInt32BE(10);
  const macStart = headerEnd - HEADER_MAC_BYTES;
  for (let at = 48; at + 3 <= macStart; at += 3 + v.readUInt16BE(at + 1)) marks.push(at, at + 1, at + 3);
  marks.push(macStart, headerEnd - 1, headerEnd);
  marks.push(...frameLandmarks(v, headerEnd));
  return marks;
}

/** Landmarks of a run of frames starting at `at`. */
export function frameLandmarks(b: Buffer, at: number): number[] {
  const marks: number[] = [];
  while (at + FRAME_PREFIX_BYTES <= b.length) {
    const len = b.readUInt32BE(at);
    const end = at + FRAME_PREFIX_BYTES + len;
    if (end > b.length) break;
    // Twice each: frames are what the reader loops over, so they get as many edits as the header fields.
    for (let twice = 0; twice < 2; twice++) marks.push(at, at + 3, at + FRAME_PREFIX_BYTES, at + FRAME_PREFIX_BYTES + 1, end - 16, end - 1, end);
    at = end;
  }
  return marks;
}

/** Landmarks of a manifest: prefix, JSON punctuation (where values start), MAC, flag, signature, catalog frames. */
export function manifestLandmarks(m: Buffer): number[] {
  const marks = [0, 8, 10, 14];
  const headerEnd = MANIFEST_PREFIX_BYTES + m.readUInt32BE(10);
  for (let i = MANIFEST_PREFIX_BYTES; i < headerEnd; i++) {
    const c = m[i]!;
    if (c === 0x3a || c === 0x2c || c === 0x5b || c === 0x7b) marks.push(i + 1); // value or key starts after : , [ {
  }
  const flag = headerEnd + MANIFEST_MAC_BYTES;
  marks.push(headerEnd, flag, flag + 1);
  const catalog = flag + 1 + (m[flag] === 1 ? SIGNATURE_BYTES : 0);
  marks.push(...frameLandmarks(m, catalog));
  return marks;
}

/** A volume or manifest with its landmarks, for mutation. */
export function piece(bytes: Buffer, kind: 'volume' | 'manifest'): Piece {
  return { bytes, marks: kind === 'volume' ? volumeLandmarks(bytes) : manifestLandmarks(bytes) };
}

export { collect };
