/**
 * The encrypted catalog (the tail of the manifest) -> entries, streamed in
 * archive order. Chunks authenticate under volume index 0 with rising
 * indexes and must end with an end-of-set chunk; the bytes must hash to the
 * manifest's catalog record. Only one chunk of entries (and one entry of at
 * most MAX_ENTRY_CHARS) is held at a time.
 */
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { IntegrityError } from '../errors.js';
import { ChunkFlag, FRAME_PREFIX_BYTES, maxSealedBytes } from '../format/chunk.js';
import { decodeCatalogEntry } from '../format/catalog.js';
import type { CatalogEntry } from '../format/catalog.js';
import { ByteReader } from '../stream/byte-reader.js';
import { MANIFEST_NAME } from '../set/manifest-io.js';
import type { OpenedSet } from '../set/open-set.js';
import { manifestOf } from '../set/open-set.js';
import { payloadPlaintext } from './payload.js';
import { CATALOG_VOLUME_INDEX } from '../backup/catalog-writer.js';

/**
 * Longest entry line accepted. A real entry is a few hundred bytes; paths
 * and link targets are bounded by PATH_MAX (4096 bytes, at most 6 JSON
 * characters each), so this is generous. Without a bound a catalog with
 * no newline grows one string until memory or V8's string limit runs out.
 */
export const MAX_ENTRY_CHARS = 1024 * 1024;

/**
 * Catalog entries one at a time, without a promise when the entry is already
 * decoded, as it is for all but the first of a chunk's entries: a restore
 * asks for one per archive entry (untar.ts).
 */
export interface CatalogCursor {
  /** The next entry, null after the last. */
  next(): CatalogEntry | null | Promise<CatalogEntry | null>;
  /** Stops reading (an early stop included); safe to call twice. */
  close(): Promise<void>;
}

/** The set's catalog; with `keep`, only the entries whose path it keeps. */
export class CatalogReader implements CatalogCursor, AsyncIterable<CatalogEntry> {
  private reader: ByteReader | undefined;
  private readonly hash = createHash('sha256');
  private readonly utf8 = new StringDecoder('utf8'); // a character may straddle two chunks
  /**
   * The current chunk's complete lines, as one string, and where the next
   * starts: lines are cut out one at a time, so none outlives its entry
   * (an array of a chunk's lines would be copied by every collection until
   * the last is used).
   */
  private text = '';
  private at = 0;
  /** The start of a line that continues in the next chunk. */
  private carry = '';
  private lineNumber = 0;
  private chunkIndex = 0;
  private shortSeen = false;
  private ended = false;

  constructor(
    private readonly s: OpenedSet,
    private readonly keep?: (path: string) => boolean,
  ) {}

  next(): CatalogEntry | null | Promise<CatalogEntry | null> {
    while (this.at < this.text.length) {
      const end = this.text.indexOf('\n', this.at);
      const line = this.text.slice(this.at, end);
      this.at = end + 1;
      if (line.length > MAX_ENTRY_CHARS) throw this.fail('catalog-corrupt', `entry ${this.lineNumber + 1} is longer than ${MAX_ENTRY_CHARS} characters`);
      const e = decodeCatalogEntry(line, ++this.lineNumber);
      if (!this.keep || this.keep(e.path)) return e;
    }
    if (this.ended) return null;
    return this.readChunk().then(() => this.next());
  }

  async close(): Promise<void> {
    this.ended = true;
    this.text = '';
    await this.reader?.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<CatalogEntry> {
    try {
      for (let e = await this.next(); e !== null; e = await this.next()) yield e;
    } finally {
      await this.close();
    }
  }

  private async readChunk(): Promise<void> {
    const s = this.s;
    const m = manifestOf(s);
    this.reader ??= new ByteReader(await s.target.get(`${s.set}/${MANIFEST_NAME}`, { start: s.manifest!.catalogOffset }), (b) => this.hash.update(b));
    const r = this.reader;
    const chunkIndex = this.chunkIndex++;
    const prefix = await r.read(FRAME_PREFIX_BYTES);
    if (prefix.length < FRAME_PREFIX_BYTES) throw this.fail('catalog-truncated', 'is truncated');
    const length = prefix.readUInt32BE(0);
    if (length > maxSealedBytes(m.chunkSize) || length < 17) throw this.fail('catalog-corrupt', `chunk ${chunkIndex} has an impossible length`);
    const sealed = await r.read(length);
    if (sealed.length < length) throw this.fail('catalog-truncated', 'is truncated');
    const opened = s.keys.opener.open(CATALOG_VOLUME_INDEX, chunkIndex, sealed);
    if (!opened) throw this.fail('catalog-tampered', `chunk ${chunkIndex} failed authentication`);
    if (opened.flag === ChunkFlag.endOfSet) {
      if (!(await r.atEnd())) throw this.fail('catalog-corrupt', 'has bytes after its end');
      if (r.position !== m.catalog.size || this.hash.digest('hex') !== m.catalog.sha256) throw this.fail('catalog-hash-mismatch', 'does not match the hash in the manifest');
      if (chunkIndex !== m.catalog.dataChunks) throw this.fail('catalog-corrupt', `has ${chunkIndex} chunks, the manifest says ${m.catalog.dataChunks}`);
      if (this.carry !== '') throw this.fail('catalog-corrupt', 'ends inside an entry');
      this.ended = true;
      this.text = '';
      return;
    }
    if (opened.flag !== ChunkFlag.data) throw this.fail('catalog-corrupt', `chunk ${chunkIndex} has the wrong role`);
    const plain = payloadPlaintext(opened.codec, opened.data, m.chunkSize);
    if (!plain) throw this.fail('catalog-corrupt', `chunk ${chunkIndex} does not decompress`);
    if (this.shortSeen) throw this.fail('catalog-corrupt', `chunk ${chunkIndex - 1} is short but is not the last`);
    this.shortSeen = plain.length < m.chunkSize;
    // Only the new text is searched: searching the carried part on every chunk is quadratic in a long line.
    const text = this.utf8.write(plain);
    const lastEnd = text.lastIndexOf('\n');
    if (lastEnd === -1) {
      this.carry += text;
      this.text = '';
    } else {
      this.text = this.carry + text.slice(0, lastEnd + 1);
      this.carry = text.slice(lastEnd + 1);
    }
    this.at = 0;
    if (this.carry.length > MAX_ENTRY_CHARS) throw this.fail('catalog-corrupt', `entry ${this.lineNumber + countLines(this.text) + 1} is longer than ${MAX_ENTRY_CHARS} characters`);
  }

  private fail(code: string, what: string): IntegrityError {
    return new IntegrityError(code, `manifest of set ${this.s.set}: catalog ${what}`, { where: { set: this.s.set, volume: MANIFEST_NAME } });
  }
}

/** The set's catalog, read to the end or until the loop stops. */
export function readCatalog(s: OpenedSet): CatalogReader {
  return new CatalogReader(s);
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
