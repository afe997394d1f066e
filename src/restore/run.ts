/**
 * restore and keyed verify: volumes -> tar -> entries, matched in order
 * against the catalog, into files (restore) or only into hashes (verify).
 * A full run reads every chunk; with --include only the ranges of the
 * selected entries are decrypted, from the volumes that hold them.
 */
import { resolve } from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import { IntegrityError, UsageError, ioError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { Warnings } from '../report.js';
import type { OpenedSet } from '../set/open-set.js';
import { manifestOf } from '../set/open-set.js';
import { CatalogReader, readCatalog } from './catalog-reader.js';
import { FsWriter } from './fs-writer.js';
import { Staging } from './staging.js';
import type { Refusal } from './fs-writer.js';
import { includeFilter, RangeBuilder } from './plan.js';
import type { TarRange } from './plan.js';
import { decodeWindow, tarBytes, tarBytesFromVolumes } from './tar-source.js';
import { chunkWork } from '../parallel/pool.js';
import type { ChunkWork } from '../parallel/pool.js';
import { ChunkMemory } from './chunk-memory.js';
import { FileWriters } from './file-writers.js';
import { NO_META } from './file-jobs.js';
import { untar } from './untar.js';

export interface RestoreOptions {
  to: string;
  include: string[];
  /** Worker threads for decryption and writing files (0: in-process); default: one per core. */
  workers?: number;
  log: Logger;
  progress: Progress;
}

export interface RestoreResult {
  set: string;
  to: string;
  entries: number;
  files: number;
  bytes: number;
  refused: Refusal[];
  seconds: number;
  warnings: Warnings;
}

/** The tar ranges of the selected entries (a whole-stream range when nothing is filtered). */
async function planRanges(s: OpenedSet, include: string[]): Promise<TarRange[]> {
  if (!include.length) return [{ start: 0, end: manifestOf(s).tarBytes }];
  const keep = includeFilter(include);
  const b = new RangeBuilder();
  for await (const e of new CatalogReader(s, keep)) b.add(e);
  // Restoring nothing because of a typo in a glob must not look like success.
  if (!b.ranges.length) throw new UsageError('include-matches-nothing', `no entry of set ${s.set} matches --include ${include.join(' ')}`, { hint: `list the set's paths with: coffer ls ... --identity ...` });
  return b.ranges;
}

/** Chunk memory for a set read through its manifest: enough for every chunk in flight, and those the tar reader holds. */
function chunkMemory(s: OpenedSet, work: ChunkWork): ChunkMemory | undefined {
  return s.manifest ? new ChunkMemory(manifestOf(s).chunkSize, 2 * decodeWindow(work) + 4) : undefined;
}

function counted(source: AsyncIterable<Buffer>, progress: Progress): AsyncGenerator<Buffer> {
  return (async function* () {
    for await (const b of source) {
      progress.add(b.length);
      yield b;
    }
  })();
}

export async function runRestore(s: OpenedSet, o: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const log = o.log.child({ set: s.set });
  const root = resolve(o.to);
  try {
    // Checked before mkdir, which fails on an existing file with EEXIST (an I/O error, exit 5).
    const st = await stat(root).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (st && !st.isDirectory()) throw new UsageError('restore-target-not-directory', `${root} is not a directory`, { hint: 'give --to a directory; it is created if missing' });
    if (!st) await mkdir(root, { recursive: true });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw ioError('create the restore folder', root, err);
  }
  const warnings = new Warnings(log);
  const work = chunkWork(o.workers);
  const writers = new FileWriters(work);
  const memory = chunkMemory(s, work);
  let entries = 0;
  let source: AsyncIterable<Buffer>;
  let expected: CatalogReader | undefined;
  let total: number | undefined;
  if (s.manifest) {
    const ranges = await planRanges(s, o.include);
    total = ranges.reduce((n, r) => n + r.end - r.start, 0);
    source = tarBytes(s, ranges, work, memory);
    expected = new CatalogReader(s, o.include.length ? includeFilter(o.include) : undefined);
  } else {
    if (o.include.length) throw new UsageError('include-needs-manifest', '--include needs the manifest; with --volumes-only everything is restored');
    source = tarBytesFromVolumes(s, work);
  }
  let staging: Staging | undefined;
  try {
    staging = Staging.open(root);
  } catch (err) {
    await work.close();
    throw ioError('create a staging folder in', root, err);
  }
  const writer = new FsWriter(root, warnings, log, writers, staging);
  log.info({ event: 'restore-started', to: root, staging: staging?.dir, include: o.include, volumesOnly: !s.manifest }, 'restore started');
  o.progress.start('restore', total);
  let finished = false;
  try {
    for await (const e of untar(counted(source, o.progress), expected, (b) => memory?.released(b))) {
      entries++;
      const writing = writer.write(e);
      if (writing) await writing;
    }
    await writer.finish();
    finished = true;
  } catch (err) {
    logFailure(log, 'restore-failed', err);
    throw err;
  } finally {
    o.progress.done();
    await writers.close();
    if (!finished) writer.keepCompleted();
    await work.close();
  }
  log.info({ event: 'restore-finished', entries, files: writer.files, bytes: writer.bytes, refused: writer.refused.length, warnings: warnings.count }, 'restore finished');
  return { set: s.set, to: root, entries, files: writer.files, bytes: writer.bytes, refused: writer.refused, seconds: (Date.now() - started) / 1000, warnings };
}

export interface KeyedVerifyResult {
  entries: number;
  files: number;
  bytes: number;
}

/**
 * Authenticates every byte of every volume and re-hashes every file against
 * the catalog, writing nothing. Files are hashed on the writer threads in
 * hash-only mode, as restore hashes them. The volumes' SHA-256s are keyless
 * verify's to check (docs/DESIGN.md, "What keyed verify checks").
 */
export async function verifyContents(s: OpenedSet, log: Logger, progress: Progress, workers?: number): Promise<KeyedVerifyResult> {
  const m = manifestOf(s);
  const work = chunkWork(workers);
  const hashers = new FileWriters(work);
  const memory = chunkMemory(s, work)!;
  let entries = 0;
  let files = 0;
  let bytes = 0;
  let failure: Error | undefined;
  const mismatch = (path: string) => new IntegrityError('file-hash-mismatch', `${path}: archived content does not match the catalog's hash`, { where: { path } });
  progress.start('verify', m.tarBytes);
  try {
    const source = tarBytes(s, [{ start: 0, end: m.tarBytes }], work, memory);
    for await (const e of untar(counted(source, progress), readCatalog(s), (b) => memory.released(b))) {
      if (failure) throw failure;
      entries++;
      const want = e.expected!;
      if (want.type !== 'file') {
        for await (const _ of e.body) void _;
        continue;
      }
      const id = hashers.begin(null);
      for (let next = e.nextPiece(); next !== null; next = e.nextPiece()) {
        hashers.data(id, next instanceof Promise ? await next : next);
        if (hashers.full) await hashers.room();
      }
      const path = e.path;
      hashers.endThen(id, path, NO_META, { sha256: want.sha256 ?? '', size: want.size }, (o) => {
        if (o.status !== 'written') failure ??= mismatch(path);
      });
      if (e.header.type === 'file') {
        files++;
        bytes += want.size;
      }
    }
    await hashers.settled();
    if (failure) throw failure;
  } catch (err) {
    logFailure(log.child({ set: s.set }), 'verify-failed', err);
    throw err;
  } finally {
    progress.done();
    await hashers.close();
    await work.close();
  }
  return { entries, files, bytes };
}

function logFailure(log: Logger, event: string, err: unknown): void {
  const e = err as { code?: string; where?: unknown; message?: string };
  log.error({ event, code: e.code, where: e.where }, e.message ?? String(err));
}
