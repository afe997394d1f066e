/**
 * Entries -> a PAX tar stream and catalog records.
 *
 * Guarantees: the stream is valid tar whatever happens to the source while
 * it is read. A file that shrinks is padded with zeros to the size in its
 * header, one that grows is cut there, and either becomes a warning (a
 * header must never promise bytes the stream does not hold). A file that
 * cannot be opened is skipped with a warning. Each record carries the byte
 * offset of the entry's first header and the SHA-256 of exactly the bytes
 * archived. Warnings come in archive order.
 *
 * Small files arrive already read, in batches on the source threads
 * (read-ahead.ts); larger ones are streamed part by part, read and hashed
 * ahead on the first of them (file-parts.ts), never held whole. The stream
 * comes out in pieces of exactly PIECE_BYTES (the last one shorter), so the
 * chunker takes each piece as it is at the default chunk size.
 *
 * PAX records are added for what ustar cannot hold: sizes of 8 GiB and more,
 * non-ASCII or long owner names, and mtimes that are sub-second, before 1970
 * or after 2038-01-19 (the ustar field then holds the nearest value it can).
 * The header encoder (format/tar-header.ts) adds path and linkpath records
 * for names ustar cannot hold.
 */
import type { CatalogEntry } from '../format/catalog.js';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter, TAR_BLOCK, writeTarHeader } from '../format/tar-header.js';
import type { TarHeader } from '../format/tar-header.js';
import type { Warnings } from '../report.js';
import { readAhead } from './read-ahead.js';
import type { SmallFile } from './read-ahead.js';
import type { CallFailure } from './source-jobs.js';
import { inProcessReader } from './source-readers.js';
import type { SourceReader } from './source-readers.js';
import { fileParts, PART_BYTES, PartSlots } from './file-parts.js';
import type { WalkEntry } from './walk.js';
import { OwnerNames } from './owners.js';
import type { BufferPool } from '../stream/buffer-pool.js';

/** Equal to the default chunk size (1 MiB), and to a part of a large file, so parts fill pieces with few copies. */
export const PIECE_BYTES = PART_BYTES;
const USTAR_MAX_SIZE = 8 * 1024 ** 3 - 1;
/** The ustar uid and gid fields hold 6 octal digits. */
const USTAR_MAX_ID = 0o777777;
/** Kept as tar-stream wrote ustar mtimes (through `| 0`), so earlier sets and later ones agree: 0 .. 2^31 - 1 seconds. */
const USTAR_MAX_MTIME = 2 ** 31 - 1;

export interface TarOptions {
  warnings: Warnings;
  /** Where small files are read; in-process unless given. */
  reader?: SourceReader;
  /** Memory for the pieces, reused once the consumer is done with them; new buffers without. */
  pieces?: BufferPool;
  /** Called in archive order once an entry is completely written (to the piece being filled); may apply backpressure. */
  onEntry: (entry: CatalogEntry) => Promise<void> | void;
}

/** The tar stream as it is written, cut into pieces of one size. */
class Pieces {
  private piece: Buffer;
  private used = 0;
  private readonly full: Buffer[] = [];
  /** Bytes written so far: the offset of the next header. */
  length = 0;

  constructor(private readonly pool: BufferPool | undefined) {
    this.piece = this.newPiece();
  }

  private newPiece(): Buffer {
    return this.pool ? this.pool.take() : Buffer.allocUnsafe(PIECE_BYTES);
  }

  write(b: Buffer): void {
    for (let from = 0; from < b.length;) {
      const n = b.copy(this.piece, this.used, from);
      from += n;
      this.advance(n);
    }
  }

  /** An entry's header: written in place when it is one ustar block, as most are. */
  header(h: TarHeader): void {
    if (PIECE_BYTES - this.used >= TAR_BLOCK && writeTarHeader(h, this.piece, this.used)) this.advance(TAR_BLOCK);
    else this.write(encodeTarHeader(h));
  }

  zeros(count: number): void {
    while (count > 0) {
      const n = Math.min(count, PIECE_BYTES - this.used);
      this.piece.fill(0, this.used, this.used + n);
      count -= n;
      this.advance(n);
    }
  }

  private advance(n: number): void {
    this.used += n;
    this.length += n;
    if (this.used === PIECE_BYTES) {
      this.full.push(this.piece);
      this.piece = this.newPiece();
      this.used = 0;
    }
  }

  /** The next full piece, if any: it is the consumer's from now on. */
  take(): Buffer | undefined {
    return this.full.shift();
  }

  /** The last, partial piece. */
  rest(): Buffer | undefined {
    return this.used ? this.piece.subarray(0, this.used) : undefined;
  }
}

/** The tar stream; entries are read and packed as the consumer pulls. */
export async function* tarStream(entries: AsyncIterable<WalkEntry>, opts: TarOptions): AsyncGenerator<Buffer> {
  const out = new Pieces(opts.pieces);
  const owners = new OwnerNames();
  const reader = opts.reader ?? inProcessReader;
  const slots = new PartSlots();
  for await (const { entry: e, small } of readAhead(entries, opts.warnings, reader)) {
    if (small?.read.openFailure) {
      skipped(e, small.read.openFailure, opts.warnings);
      continue;
    }
    const header = headerFor(e, owners);
    let sha256: string | undefined;
    const offset = out.length;
    if (small) {
      out.header(header);
      sha256 = archiveSmall(out, header.size, small, e, opts.warnings);
    } else if (e.type === 'file') {
      const opened = await reader.open(e.absPath);
      if ('openFailure' in opened) {
        skipped(e, opened.openFailure, opts.warnings);
        continue;
      }
      out.header(header);
      sha256 = yield* streamFile(out, header.size, reader, slots, opened.stream, e, opts.warnings);
    } else {
      out.header(header);
    }
    const end = out.length;
    out.zeros(paddingAfter(header.size));
    const added = opts.onEntry(catalogEntry(e, header, offset, end, sha256));
    if (added) await added;
    for (let p = out.take(); p; p = out.take()) yield p;
  }
  out.write(END_OF_ARCHIVE);
  for (let p = out.take(); p; p = out.take()) yield p;
  const rest = out.rest();
  if (rest) yield rest;
}

function skipped(e: WalkEntry, failure: CallFailure, warnings: Warnings): void {
  warnings.add(failure.code === 'ENOENT' ? 'source-vanished' : 'source-unreadable', e.absPath, `skipped ${e.absPath}: ${failure.reason}`);
}

/** Archives a small file read ahead: its bytes, then zeros for what it lacked. Returns the SHA-256 of what was archived. */
function archiveSmall(out: Pieces, size: number, small: SmallFile, e: WalkEntry, warnings: Warnings): string {
  out.write(small.data);
  if (small.data.length < size) {
    out.zeros(size - small.data.length);
    warnShort(e, small.read.readFailure, warnings);
  } else if (small.read.after) {
    warnIfChanged(e, small.read.after, warnings);
  }
  return small.read.sha256;
}

/**
 * Streams a large file into the tar in pieces, yielding each full piece; its
 * parts are read and hashed on the first source thread. Returns the SHA-256 of
 * what was archived.
 */
async function* streamFile(out: Pieces, size: number, reader: SourceReader, slots: PartSlots, stream: number, e: WalkEntry, warnings: Warnings): AsyncGenerator<Buffer, string> {
  let written = 0;
  let readFailure: CallFailure | undefined;
  let closed = false;
  try {
    for await (const part of fileParts(reader, slots, stream, size)) {
      out.write(part.data);
      written += part.data.length;
      readFailure = part.readFailure;
      for (let p = out.take(); p; p = out.take()) yield p;
    }
    for (let left = size - written; left > 0; left -= PIECE_BYTES) {
      out.zeros(Math.min(left, PIECE_BYTES));
      for (let p = out.take(); p; p = out.take()) yield p;
    }
    closed = true;
    const end = await reader.close(stream, size);
    if (written < size) warnShort(e, readFailure, warnings);
    else if (end.after) warnIfChanged(e, end.after, warnings);
    return end.sha256;
  } finally {
    // Stopped early: the stream is closed behind the parts still being read, and nobody waits.
    if (!closed) reader.close(stream, 0).catch(() => {});
  }
}

function warnShort(e: WalkEntry, readFailure: CallFailure | undefined, warnings: Warnings): void {
  warnings.add('source-changed', e.absPath, readFailure
    ? `${e.absPath}: read failed (${readFailure.reason}); the rest was archived as zeros`
    : `${e.absPath} shrank while it was read; archived padded with zeros`);
}

function warnIfChanged(e: WalkEntry, after: { size: number; mtimeMs: number }, warnings: Warnings): void {
  if (after.size !== e.stat.size || after.mtimeMs !== e.stat.mtimeMs) {
    warnings.add('source-changed', e.absPath, `${e.absPath} changed while it was read; the archived copy may be inconsistent`);
  }
}

function headerFor(e: WalkEntry, owners: OwnerNames): TarHeader {
  const st = e.stat;
  const pax: Record<string, string> = {};
  const uname = owners.user(st.uid);
  const gname = owners.group(st.gid);
  const seconds = Math.floor(st.mtimeMs / 1000);
  const header: TarHeader = {
    name: e.type === 'directory' ? `${e.archivePath}/` : e.archivePath,
    type: e.type,
    mode: st.mode & 0o7777,
    uid: st.uid <= USTAR_MAX_ID ? st.uid : 0,
    gid: st.gid <= USTAR_MAX_ID ? st.gid : 0,
    mtime: Math.min(Math.max(seconds, 0), USTAR_MAX_MTIME),
    size: e.type === 'file' ? st.size : 0,
  };
  if (st.uid > USTAR_MAX_ID) pax.uid = String(st.uid);
  if (st.gid > USTAR_MAX_ID) pax.gid = String(st.gid);
  if (uname !== undefined) {
    if (isUstarName(uname)) header.uname = uname;
    else pax.uname = uname;
  }
  if (gname !== undefined) {
    if (isUstarName(gname)) header.gname = gname;
    else pax.gname = gname;
  }
  if (mtimeSeconds(st.mtimeMs) % 1 !== 0 || seconds < 0 || seconds > USTAR_MAX_MTIME) pax.mtime = mtimeSeconds(st.mtimeMs).toFixed(3);
  if (header.size > USTAR_MAX_SIZE) pax.size = String(header.size);
  if (e.link !== undefined) header.linkname = e.link;
  if (e.type === 'char-device' || e.type === 'block-device') {
    header.devmajor = Math.floor(st.rdev / 256) & 0xfff;
    header.devminor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  }
  if (Object.keys(pax).length) header.pax = pax;
  return header;
}

function isUstarName(n: string): boolean {
  return /^[\x20-\x7e]{1,31}$/.test(n);
}

function catalogEntry(e: WalkEntry, header: TarHeader, offset: number, end: number, sha256: string | undefined): CatalogEntry {
  const st = e.stat;
  const entry: CatalogEntry = {
    path: e.archivePath,
    type: e.type,
    size: header.size,
    mode: st.mode & 0o7777,
    mtime: mtimeSeconds(st.mtimeMs),
    uid: st.uid,
    gid: st.gid,
    offset,
    end,
  };
  if (header.uname ?? header.pax?.uname) entry.uname = header.uname ?? header.pax!.uname!;
  if (header.gname ?? header.pax?.gname) entry.gname = header.gname ?? header.pax!.gname!;
  if (sha256 !== undefined) entry.sha256 = sha256;
  if (e.link !== undefined) entry.link = e.link;
  if (header.devmajor !== undefined) {
    entry.devmajor = header.devmajor;
    entry.devminor = header.devminor ?? 0;
  }
  return entry;
}

/** Modification times are kept to the millisecond, in seconds. */
function mtimeSeconds(mtimeMs: number): number {
  return Math.floor(mtimeMs) / 1000;
}
