/**
 * Tar streams for the fuzz targets: packed with tar-stream (what coffer's
 * backup uses), with catalog records that match them; landmarks of every
 * header block (the fields a tar parser branches on); checksum repair, so a
 * mutated header still reaches the parser behind the checksum test; and the
 * catalog coffer's untar would pair with a (mutated) tar stream.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import type { Header } from 'tar-stream';
import type { CatalogEntry, EntryType } from '../../../src/format/catalog.js';
import type { SetContent } from '../../../src/backup/run.js';

export type TarHeader = Partial<Header> & { name: string; pax?: Record<string, string> };

export interface TarEntryInput {
  header: TarHeader;
  body?: Uint8Array;
}

const BLOCK = 512;
const END = Buffer.alloc(2 * BLOCK);

const CATALOG_TYPES: Record<string, EntryType> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  fifo: 'fifo',
  'character-device': 'char-device',
  'block-device': 'block-device',
};

/** One entry as tar-stream packs it (PAX header included), without the end-of-archive blocks. */
async function packOne(e: TarEntryInput): Promise<Buffer> {
  const p = pack();
  const body = Buffer.from(e.body ?? new Uint8Array(0));
  const out: Buffer[] = [];
  const reading = (async () => {
    for await (const b of p as AsyncIterable<Buffer>) out.push(b);
  })();
  await new Promise<void>((resolve, reject) => {
    const s = p.entry({ ...e.header, size: body.length }, body, (err) => (err ? reject(err) : resolve()));
    s?.on?.('error', reject);
  });
  p.finalize();
  await reading;
  const all = Buffer.concat(out);
  return all.subarray(0, all.length - END.length);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Packs entries into one tar stream and describes them as the catalog
 * would. Entries tar-stream refuses to pack are left out.
 */
export async function packTar(entries: readonly TarEntryInput[]): Promise<{ tar: Buffer; records: CatalogEntry[] }> {
  const parts: Buffer[] = [];
  const records: CatalogEntry[] = [];
  let offset = 0;
  for (const e of entries) {
    let bytes: Buffer;
    try {
      bytes = await packOne(e);
    } catch {
      continue;
    }
    const size = e.body?.length ?? 0;
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    const h = e.header;
    const rec: CatalogEntry = {
      path: h.name.replace(/\/+$/, '') || '.',
      type: CATALOG_TYPES[h.type ?? 'file'] ?? 'file',
      size,
      mode: (h.mode ?? 0o644) & 0o7777,
      // As tar-stream writes it: whole seconds in the ustar field, unless a PAX record says more.
      mtime: h.pax?.mtime !== undefined ? Number(h.pax.mtime) : Math.floor((h.mtime?.getTime() ?? 0) / 1000),
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      offset,
      end: offset + bytes.length - padding,
    };
    if (rec.type === 'file') rec.sha256 = sha256(e.body ?? new Uint8Array(0));
    if (h.linkname !== undefined && h.linkname !== null) rec.link = h.linkname;
    if (rec.type === 'char-device' || rec.type === 'block-device') {
      rec.devmajor = h.devmajor ?? 0;
      rec.devminor = h.devminor ?? 0;
    }
    parts.push(bytes);
    records.push(rec);
    offset += bytes.length;
  }
  parts.push(END);
  return { tar: Buffer.concat(parts), records };
}

function octal(b: Buffer, at: number, len: number): number | undefined {
  const s = b.toString('latin1', at, at + len).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}

/** Offsets of the header blocks of a well-formed tar stream (walked by their size fields). */
export function headerBlocks(tar: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + BLOCK <= tar.length; ) {
    if (tar.subarray(at, at + BLOCK).every((x) => x === 0)) break;
    out.push(at);
    const size = octal(tar, at + 124, 12) ?? 0;
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}

const HEADER_FIELDS = [0, 99, 100, 108, 116, 124, 135, 136, 148, 156, 157, 257, 263, 265, 297, 329, 337, 345, 511];

/** Landmarks: every header field, the start of each body, each PAX record, the end blocks. */
export function tarLandmarks(tar: Buffer): number[] {
  const marks: number[] = [];
  for (const h of headerBlocks(tar)) {
    for (const f of HEADER_FIELDS) marks.push(h + f);
    marks.push(h + BLOCK);
    const type = String.fromCharCode(tar[h + 156]!);
    if (type === 'x' || type === 'g') {
      const size = octal(tar, h + 124, 12) ?? 0;
      const body = tar.subarray(h + BLOCK, h + BLOCK + size);
      for (let at = 0; at < body.length; ) {
        marks.push(h + BLOCK + at, h + BLOCK + at + body.indexOf(0x20, at) - at + 1, h + BLOCK + at + body.indexOf(0x3d, at) - at + 1);
        const len = parseInt(body.toString('latin1', at, body.indexOf(0x20, at)), 10);
        if (!(len > 0)) break;
        at += len;
      }
    }
  }
  marks.push(Math.max(0, tar.length - END.length), tar.length);
  return marks.filter((m) => m >= 0 && m <= tar.length);
}

/** Rewrites the checksum of every 512-byte block that carries a ustar magic (or was a header before the edits). */
export function fixChecksums(tar: Buffer, headers: readonly number[] = []): Buffer {
  const b = Buffer.from(tar);
  const known = new Set(headers);
  for (let at = 0; at + BLOCK <= b.length; at += BLOCK) {
    if (!known.has(at) && b.toString('latin1', at + 257, at + 262) !== 'ustar') continue;
    b.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + BLOCK; i++) sum += b[i]!;
    b.write(sum.toString(8).padStart(6, '0').slice(-6) + '\0 ', at + 148, 'latin1');
  }
  return b;
}

/**
 * The catalog that matches a tar stream entry for entry, as coffer's untar
 * would see it (tar-stream's parse: path, size and content as read). Stops
 * quietly where tar-stream fails; the restore fails at the same place.
 */
export async function catalogFor(tar: Buffer): Promise<CatalogEntry[]> {
  const ex = extract();
  const out: CatalogEntry[] = [];
  Readable.from([tar]).pipe(ex).on('error', () => {});
  try {
    for await (const entry of ex as AsyncIterable<Readable & { header: Header & { pax?: Record<string, string> } }>) {
      const h = entry.header;
      // untar refuses a size that is not a number (tar-stream would wait for it forever)
      if (!(Number.isSafeInteger(h.size) && h.size! >= 0)) break;
      const hash = createHash('sha256');
      let size = 0;
      // tar-stream never ends the body of a directory that declares a size; untar reads none either.
      if (h.type !== 'directory') {
        for await (const b of entry as AsyncIterable<Buffer>) {
          hash.update(b);
          size += b.length;
        }
      }
      const num = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
      const mtime = h.mtime instanceof Date && Number.isFinite(h.mtime.getTime()) ? h.mtime.getTime() / 1000 : 0;
      const path = h.name.replace(/\/+$/, '');
      const rec: CatalogEntry = {
        path: path === '' ? '.' : path,
        type: CATALOG_TYPES[h.type ?? 'file'] ?? 'file',
        size,
        mode: num(h.mode),
        mtime,
        uid: num(h.uid),
        gid: num(h.gid),
        offset: 0,
        end: 0,
      };
      if (rec.type === 'file') rec.sha256 = hash.digest('hex');
      out.push(rec);
    }
  } catch {
    // the restore meets the same failure
  }
  return out;
}

/** A SetContent for writeSet: these catalog records, then the tar bytes in pieces of `piece` bytes. */
export function contentOf(tar: Buffer, records: readonly CatalogEntry[], piece = 1500): SetContent {
  return (catalog) =>
    (async function* () {
      for (const r of records) await catalog.add(r);
      for (let at = 0; at < tar.length; at += piece) yield tar.subarray(at, at + piece);
    })();
}
