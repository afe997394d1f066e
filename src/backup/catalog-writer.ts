/**
 * Catalog entries -> encrypted catalog in a temporary file, sealed like a
 * volume's chunks under volume index 0 of the set. Only one chunk of entries
 * is ever held in memory, so a tree of millions of files keeps memory flat;
 * the file is streamed into the manifest at the end.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ChunkFlag, Codec } from '../format/chunk.js';
import { encodeCatalogEntry } from '../format/catalog.js';
import type { CatalogEntry } from '../format/catalog.js';
import { ioError } from '../errors.js';
import type { ChunkSealer } from './encrypt.js';
import { compressChunk } from './compress.js';
import type { CompressionChoice } from './compress.js';
import { padPayload, padStep } from '../format/padding.js';

export const CATALOG_VOLUME_INDEX = 0;

export interface SealedCatalog {
  size: number;
  sha256: string;
  dataChunks: number;
  open(): Readable;
  dispose(): Promise<void>;
}

export class CatalogWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextChunk = 0;
  private size = 0;
  private readonly hash = createHash('sha256');

  private constructor(
    private readonly dir: string,
    private readonly handle: FileHandle,
    private readonly sealer: ChunkSealer,
    private readonly chunkSize: number,
    private readonly compression: CompressionChoice,
    private readonly pad: boolean,
  ) {}

  static async create(sealer: ChunkSealer, chunkSize: number, compression: CompressionChoice, pad: boolean): Promise<CatalogWriter> {
    try {
      const dir = await mkdtemp(join(tmpdir(), 'coffer-catalog-'));
      const handle = await open(join(dir, 'catalog'), 'wx', 0o600);
      return new CatalogWriter(dir, handle, sealer, chunkSize, compression, pad);
    } catch (err) {
      throw ioError('create a temporary catalog in', tmpdir(), err);
    }
  }

  /** Returns a promise, to be awaited before the next add, only when a full chunk of entries is sealed and written. */
  add(entry: CatalogEntry): Promise<void> | undefined {
    const line = Buffer.from(encodeCatalogEntry(entry), 'utf8');
    this.pending.push(line);
    this.pendingBytes += line.length;
    return this.pendingBytes >= this.chunkSize ? this.sealFullChunks() : undefined;
  }

  private async sealFullChunks(): Promise<void> {
    while (this.pendingBytes >= this.chunkSize) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      const rest = all.subarray(this.chunkSize);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
      await this.sealData(all.subarray(0, this.chunkSize));
    }
  }

  async finish(): Promise<SealedCatalog> {
    if (this.pendingBytes) await this.sealData(Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    await this.append(this.sealer.seal(CATALOG_VOLUME_INDEX, this.nextChunk, ChunkFlag.endOfSet, Codec.none, Buffer.alloc(0)));
    await this.handle.close();
    const path = join(this.dir, 'catalog');
    return {
      size: this.size,
      sha256: this.hash.digest('hex'),
      dataChunks: this.nextChunk,
      open: () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
      dispose: () => this.dispose(),
    };
  }

  async dispose(): Promise<void> {
    await this.handle.close().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  private async sealData(plain: Buffer): Promise<void> {
    const compressed = compressChunk(plain, this.compression);
    const c = padPayload(compressed, this.chunkSize, padStep(this.chunkSize, this.pad));
    await this.append(this.sealer.seal(CATALOG_VOLUME_INDEX, this.nextChunk++, ChunkFlag.data, c.codec, c.bytes));
  }

  private async append(frame: Buffer): Promise<void> {
    this.hash.update(frame);
    this.size += frame.length;
    try {
      await this.handle.write(frame);
    } catch (err) {
      throw ioError('write the temporary catalog in', this.dir, err);
    }
  }
}
