/**
 * A backup, start to finish:
 *   walk -> tar -> fixed-size chunks -> compress, pad and seal (in parallel,
 *   written in order) -> volumes -> target, and the catalog beside it; then
 *   the manifest.
 * Each stage pulls from the one before, so a slow target slows the walk and
 * memory stays bounded by the in-flight window. The manifest is written only
 * after every volume is stored; if anything fails, the volumes already
 * written are removed (best effort) and no manifest is ever written.
 */
import { nodeAead } from '../crypto/aead.js';
import { headerMacKey } from '../crypto/kdf.js';
import { newDataKey, wrapForPassphrase, wrapForRecipient } from '../crypto/keys.js';
import type { Identity, PublicKeys } from '../crypto/keys.js';
import type { ScryptParams } from '../crypto/kdf.js';
import { FORMAT_VERSION } from '../format/volume-header.js';
import type { Stanza } from '../format/volume-header.js';
import type { VolumeRecord } from '../format/manifest.js';
import { newSetId, setIdText } from '../format/set-id.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { Warnings } from '../report.js';
import { writeManifest } from '../set/manifest-io.js';
import { rechunk } from '../stream/rechunk.js';
import type { Target } from '../targets/target.js';
import { CatalogWriter } from './catalog-writer.js';
import { chunkWork } from '../parallel/pool.js';
import { isWhole } from '../parallel/chunk-jobs.js';
import { padStep } from '../format/padding.js';
import type { CompressionChoice } from './compress.js';
import { ChunkSealer } from './encrypt.js';
import { sourceReaders } from './source-readers.js';
import { PIECE_BYTES, tarStream } from './tar.js';
import { frameRoom } from './seal-chunk.js';
import { BufferPool } from '../stream/buffer-pool.js';
import { VolumeWriter } from './volume-writer.js';
import { walk } from './walk.js';
import { fingerprint } from '../crypto/identity-file.js';
import type { CatalogEntry } from '../format/catalog.js';
import { TOOL } from '../version.js';

/** How a set is written: keys, sizes, where. */
export interface SetWriterOptions {
  target: Target;
  recipients: PublicKeys[];
  passphrase?: Uint8Array;
  scrypt?: ScryptParams;
  signer?: Identity;
  volumeSize: number;
  chunkSize: number;
  compression: CompressionChoice;
  /** Pad every chunk to the full chunk size, not to 1/16 steps (see format/padding.ts). */
  pad: boolean;
  label: string;
  /** Worker threads for per-chunk work (0: in-process); default: one per core. */
  workers?: number;
  log: Logger;
  progress: Progress;
}

export interface BackupOptions extends SetWriterOptions {
  sources: string[];
  excludes: string[];
}

export interface SetWriteResult {
  set: string;
  label: string;
  storedBytes: number;
  volumes: Pick<VolumeRecord, 'name' | 'size' | 'sha256'>[];
  signer: string | null;
  seconds: number;
  warnings: Warnings;
}

export interface BackupResult extends SetWriteResult {
  entries: number;
  files: number;
  sourceBytes: number;
}

/**
 * What goes into a set: a tar stream, producing catalog entries as it goes.
 * The backup's is built from a walk; tests build hostile ones by hand.
 * `pieces` has memory of chunks already sealed, to write more of the stream in.
 */
export type SetContent = (catalog: { add(e: CatalogEntry): Promise<void> | undefined }, warnings: Warnings, pieces: BufferPool) => AsyncIterable<Buffer>;

export async function runBackup(o: BackupOptions): Promise<BackupResult> {
  let entries = 0;
  let files = 0;
  let sourceBytes = 0;
  const reader = sourceReaders();
  try {
    const r = await writeSet(o, (catalog, warnings, pieces) =>
      tarStream(walk(o.sources, { excludes: o.excludes, warnings, reader }), {
        warnings,
        reader,
        pieces,
        onEntry: (e) => {
          entries++;
          if (e.type === 'file') {
            files++;
            sourceBytes += e.size;
          }
          return catalog.add(e);
        },
      }));
    return { ...r, entries, files, sourceBytes };
  } finally {
    reader.stop();
  }
}

/** Frames and pieces kept for reuse: as many as are in flight at once, with room to spare. */
const POOLED = 16;

export async function writeSet(o: SetWriterOptions, content: SetContent): Promise<SetWriteResult> {
  const started = Date.now();
  const setId = newSetId();
  const set = setIdText(setId);
  const log = o.log.child({ set });
  const dataKey = newDataKey();
  const stanzas: Stanza[] = o.recipients.map((r) => wrapForRecipient(dataKey, setId, r.x25519));
  if (o.passphrase) stanzas.push(await wrapForPassphrase(dataKey, setId, o.passphrase, o.scrypt));
  const warnings = new Warnings(log);
  const work = chunkWork(o.workers);
  const sealing = { chunkSize: o.chunkSize, padStep: padStep(o.chunkSize, o.pad), choice: o.compression };
  // Frames the target has written are lent back to the workers to build later frames in (stream/buffer-pool.ts).
  const frames = new BufferPool(frameRoom(o.chunkSize, sealing), POOLED);
  const pieces = new BufferPool(PIECE_BYTES, POOLED);
  const volumes = new VolumeWriter({
    target: o.target,
    setName: set,
    setId,
    chunkSize: o.chunkSize,
    stanzas,
    volumeSize: o.volumeSize,
    sealer: new ChunkSealer(nodeAead, dataKey, setId),
    headerMacKey: headerMacKey(dataKey, setId),
    // Twice the workers in flight keeps every worker busy while the main thread writes.
    inFlight: Math.max(2, work.parallelism * 2),
    onBytes: (n) => o.progress.add(n),
    released: (b) => frames.give(b),
  });
  const catalog = await CatalogWriter.create(new ChunkSealer(nodeAead, dataKey, setId), o.chunkSize, o.compression, o.pad);
  log.info({ event: 'backup-started', target: o.target.display, recipients: o.recipients.length, passphrase: Boolean(o.passphrase) }, 'backup started');
  o.progress.start('backup');
  let tarLength = 0;
  try {
    const tar = content(catalog, warnings, pieces);
    const counted = (async function* () {
      for await (const b of tar) {
        tarLength += b.length;
        yield b;
      }
    })();
    for await (const data of rechunk(counted, o.chunkSize)) {
      await volumes.add(async (params) => {
        const { frame, spent } = await work.seal({ ...params, ...sealing, data }, frames.take());
        // Only a whole buffer: a view of part of one (a chunk smaller than the tar's pieces) shares it with the rest.
        if (isWhole(spent)) pieces.give(spent);
        return frame;
      });
    }
    const volumeList = await volumes.finish();
    const sealedCatalog = await catalog.finish();
    const manifestBytes = await writeManifest(o.target, {
      format: FORMAT_VERSION,
      tool: TOOL,
      set,
      created: new Date(started).toISOString(),
      label: o.label,
      chunkSize: o.chunkSize,
      stanzas,
      volumes: volumeList,
      tarBytes: tarLength,
      catalog: { size: sealedCatalog.size, sha256: sealedCatalog.sha256, dataChunks: sealedCatalog.dataChunks },
      signer: o.signer ? o.signer.public.ed25519 : null,
    }, dataKey, o.signer, sealedCatalog);
    const storedBytes = volumeList.reduce((n, v) => n + v.size, 0) + manifestBytes;
    log.info({ event: 'backup-finished', storedBytes, volumes: volumeList.length, warnings: warnings.count }, 'backup finished');
    return {
      set,
      label: o.label,
      storedBytes,
      volumes: volumeList.map((v) => ({ name: v.name, size: v.size, sha256: v.sha256 })),
      signer: o.signer ? fingerprint(o.signer.public.ed25519) : null,
      seconds: (Date.now() - started) / 1000,
      warnings,
    };
  } catch (err) {
    volumes.abort(err as Error);
    log.error({ event: 'backup-failed', code: (err as { code?: string }).code, err }, 'backup failed');
    await removeSet(o.target, set);
    throw err;
  } finally {
    o.progress.done();
    await work.close();
    await catalog.dispose();
  }
}

async function removeSet(target: Target, set: string): Promise<void> {
  try {
    for (const name of await target.list(`${set}/`)) await target.remove(name);
  } catch {
    // Best effort: without a manifest the set is incomplete whatever is left.
  }
}
