/**
 * Tar bytes -> entries, each matched against the next expected catalog entry
 * when there is a catalog: same path, and a header that agrees with the
 * record in everything restore applies (entry-meta.ts). Framing is done here, without a stream per entry:
 * a body yields slices of the decrypted chunks as they come, never copied,
 * which is what keeps many small files cheap. The consumer reads or drains
 * each body before asking for the next entry; what it leaves unread is
 * skipped. Names are normalised here (no trailing '/'); whether a name is
 * safe to write is fs-writer's job.
 *
 * The archive's bytes authenticated, so a malformed archive was written that
 * way (by another tool, or crafted): an integrity failure, `tar-corrupt`.
 */
import { IntegrityError } from '../errors.js';
import type { CatalogEntry } from '../format/catalog.js';
import type { CatalogCursor } from './catalog-reader.js';
import { decodeHeader, decodeLongName, decodePax, TarFormatError } from '../format/tar-header-decode.js';
import { paddingAfter, TAR_BLOCK } from '../format/tar-header.js';
import type { EntryHeader } from '../format/tar-header-decode.js';
import { ByteReader } from '../stream/byte-reader.js';
import { catalogDisagreement } from './entry-meta.js';

export type { EntryHeader };

export interface ArchiveEntry {
  path: string;
  header: EntryHeader;
  body: AsyncIterable<Buffer>;
  /**
   * The body's next piece, null once it is all read: the same pieces as
   * `body` (use one or the other), without a promise when the bytes are
   * already here, as they mostly are for a small file.
   */
  nextPiece(): Buffer | Promise<Buffer> | null;
  /** The catalog's record of this entry, when restoring with a manifest. */
  expected?: CatalogEntry;
}

/** PAX and GNU long-name records larger than this are refused; no sane archive comes near it. */
const MAX_LONG_HEADER_BYTES = 4 * 1024 * 1024;

function malformed(what: string): IntegrityError {
  return new IntegrityError('tar-corrupt', `the set's tar stream is malformed: ${what}`, {
    hint: 'its chunks authenticate, so it was written this way: made by another tool, or crafted',
  });
}

/**
 * `released` gets each buffer of `bytes` back once nothing read from it is
 * in use: a piece of an entry's body is the consumer's only until it asks
 * for the next piece or entry.
 */
export async function* untar(bytes: AsyncIterable<Buffer>, expected?: CatalogCursor, released?: (b: Buffer) => void): AsyncGenerator<ArchiveEntry> {
  const r = new ByteReader(bytes, undefined, released);
  const exactly = async (n: number): Promise<Buffer> => {
    const b = await r.read(n);
    if (b.length < n) throw malformed('unexpected end of data');
    return b;
  };
  const skipPadding = async (n: number): Promise<void> => {
    if ((await r.skip(n)) < n) throw malformed('unexpected end of data');
  };
  let globalPax: Record<string, string> | null = null;
  let pax: Record<string, string> | null = null;
  let longPath: string | null = null;
  let longLink: string | null = null;
  try {
    for (;;) {
      const block = r.readNow(TAR_BLOCK) ?? (await r.read(TAR_BLOCK));
      if (block.length === 0) break;
      if (block.length < TAR_BLOCK) throw malformed('unexpected end of data');
      let h: EntryHeader | null;
      try {
        h = decodeHeader(block);
      } catch (err) {
        if (err instanceof TarFormatError) throw malformed(err.message);
        throw err;
      }
      if (!h) continue; // end-of-archive blocks; like tar-stream, read on
      const size = h.size;
      if (h.type === 'pax-header' || h.type === 'pax-global-header' || h.type === 'gnu-long-path' || h.type === 'gnu-long-link-path') {
        if (!(Number.isSafeInteger(size) && size! >= 0)) throw malformed(`a ${h.type} record has an invalid size field`);
        if (size! > MAX_LONG_HEADER_BYTES) throw malformed(`a ${h.type} record exceeds ${MAX_LONG_HEADER_BYTES} bytes`);
        // Decoded before the next read, after which the record's view may be reused memory.
        const record = r.readNow(size!) ?? (await exactly(size!));
        if (h.type === 'pax-header') pax = { ...globalPax, ...decodePax(record) };
        else if (h.type === 'pax-global-header') globalPax = decodePax(record);
        else if (h.type === 'gnu-long-path') longPath = decodeLongName(record);
        else longLink = decodeLongName(record);
        if (!r.skipNow(paddingAfter(size!))) await skipPadding(paddingAfter(size!));
        continue;
      }
      if (longPath !== null) h.name = longPath;
      if (longLink !== null) h.linkname = longLink;
      if (pax) {
        if (pax.path) h.name = pax.path;
        if (pax.linkpath) h.linkname = pax.linkpath;
        if (pax.size) h.size = parseInt(pax.size, 10);
        h.pax = pax;
      }
      longPath = longLink = pax = null;
      const path = h.name.replace(/\/+$/, '');
      if (!(Number.isSafeInteger(h.size) && h.size! >= 0)) throw malformed(`entry ${JSON.stringify(path)} has an invalid size field`);
      let record: CatalogEntry | undefined;
      if (expected) {
        const next = expected.next();
        record = (next instanceof Promise ? await next : next) ?? undefined;
        if (record?.path !== path) {
          throw new IntegrityError('catalog-mismatch', `the archive holds ${JSON.stringify(path)} where the catalog expects ${record ? JSON.stringify(record.path) : 'no more entries'}`);
        }
        const differs = catalogDisagreement(h, record);
        if (differs) throw new IntegrityError('catalog-mismatch', `${JSON.stringify(path)}: the archive's header disagrees with the catalog (${differs})`, { where: { path } });
      }
      // A directory's size field is not followed by data (tar-stream reads it that way too).
      const dataBytes = h.type === 'directory' ? 0 : h.size!;
      const entry = new Entry(path, h, record, r, dataBytes);
      yield entry;
      for (let piece = entry.nextPiece(); piece !== null; piece = entry.nextPiece()) if (piece instanceof Promise) await piece;
      if (!r.skipNow(paddingAfter(dataBytes))) await skipPadding(paddingAfter(dataBytes));
    }
    if (expected) {
      const next = await expected.next();
      if (next) throw new IntegrityError('catalog-mismatch', `the archive ends before catalog entry ${JSON.stringify(next.path)}`);
    }
  } finally {
    // The consumer may stop early (an error while writing): stop the source too.
    await r.close();
    await expected?.close();
  }
}

/** An entry as untar hands it out: its body read from the shared reader (methods, not closures per entry). */
class Entry implements ArchiveEntry {
  constructor(
    readonly path: string,
    readonly header: EntryHeader,
    readonly expected: CatalogEntry | undefined,
    private readonly r: ByteReader,
    /** Body bytes not yet handed out. */
    private left: number,
  ) {}

  nextPiece(): Buffer | Promise<Buffer> | null {
    if (this.left === 0) return null;
    const piece = this.r.readSomeNow(this.left);
    if (!piece) return this.pieceLater();
    this.left -= piece.length;
    return piece;
  }

  get body(): AsyncIterable<Buffer> {
    return { [Symbol.asyncIterator]: () => this.pieces() };
  }

  private async *pieces(): AsyncGenerator<Buffer> {
    for (let piece = this.nextPiece(); piece !== null; piece = this.nextPiece()) yield piece;
  }

  private async pieceLater(): Promise<Buffer> {
    const piece = await this.r.readSome(this.left);
    if (!piece.length) throw malformed('unexpected end of data');
    this.left -= piece.length;
    return piece;
  }
}
