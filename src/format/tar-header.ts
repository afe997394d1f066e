/**
 * Tar entry headers, encoded byte for byte as tar-stream 3's pack encodes the
 * same fields, so sets written before and after coffer wrote its own headers
 * hold identical tar streams (a unit test checks this against tar-stream).
 *
 * One entry's header is a ustar block, preceded by a PAX extended header (an
 * `x` block, then its records padded to 512 bytes) when the caller gives PAX
 * records, the name is not ASCII or does not fit `prefix`/`name`, or the
 * link name is longer than 100 bytes. A PAX header always carries `path`
 * (and `linkpath` when there is a link name) before the caller's records, and
 * both of its blocks are then named `PaxHeader` (and link to `PaxHeader`).
 *
 * Numbers are octal with leading zeros and a trailing space; one that does
 * not fit its field is written as all sevens, except sizes of 8 GiB and more,
 * which take the GNU base-256 form. Callers keep values within what the
 * fields hold and put the real value in a PAX record.
 */
import type { EntryType } from './catalog.js';

/** Also the unit tar-header-decode.ts and restore/untar.ts frame by. */
export const TAR_BLOCK = 512;
/** Two zero blocks end the archive; nothing pads it further. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * TAR_BLOCK);

export interface TarHeader {
  /** The archived name; directories end in '/'. */
  name: string;
  type: EntryType;
  /** Only `mode & 0o7777` is stored. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds since 1970. */
  mtime: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  /** Records written after `path` and `linkpath`, in this order. */
  pax?: Record<string, string>;
}

const TYPEFLAG: Record<EntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  'char-device': 0x33,
  'block-device': 0x34,
  directory: 0x35,
  fifo: 0x36,
};
const PAX_TYPEFLAG = 0x78; // 'x'
const PAX_NAME = 'PaxHeader';
/** Magic "ustar" and a NUL, then version "00". */
const USTAR_MAGIC = Buffer.from('ustar\x0000', 'latin1');
const MAX_NAME = 100;
const MAX_PREFIX = 155;
const MAX_LINKNAME = 100;
/** The largest size 11 octal digits hold; anything larger is written in base 256. */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

/** The bytes that precede an entry's data: its PAX extended header if it needs one, then its ustar block. */
export function encodeTarHeader(h: TarHeader): Buffer {
  if (!h.pax) {
    const plain = ustarBlock(h, h.name, h.type, h.size, h.linkname);
    if (plain) return plain;
  }
  const records = Buffer.from(paxRecords(h), 'utf8');
  const padding = paddingAfter(records.length);
  const link = h.linkname ? PAX_NAME : undefined;
  const out = Buffer.allocUnsafe(TAR_BLOCK + records.length + padding + TAR_BLOCK);
  ustarBlock(h, PAX_NAME, undefined, records.length, link)!.copy(out, 0);
  records.copy(out, TAR_BLOCK);
  out.fill(0, TAR_BLOCK + records.length, TAR_BLOCK + records.length + padding);
  ustarBlock(h, PAX_NAME, h.type, h.size, link)!.copy(out, TAR_BLOCK + records.length + padding);
  return out;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function paddingAfter(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/** A ustar block (`type` undefined: the PAX extended header's), or undefined when the name or link name does not fit. */
function ustarBlock(h: TarHeader, fullName: string, type: EntryType | undefined, size: number, linkname: string | undefined): Buffer | undefined {
  if (Buffer.byteLength(fullName) !== fullName.length) return undefined; // not ASCII
  let name = fullName;
  let prefix = '';
  // Whole leading components move to `prefix` until the rest fits `name`.
  while (name.length > MAX_NAME) {
    const slash = name.indexOf('/');
    if (slash === -1) return undefined;
    prefix += prefix ? '/' + name.slice(0, slash) : name.slice(0, slash);
    name = name.slice(slash + 1);
  }
  if (prefix.length > MAX_PREFIX) return undefined;
  if (linkname && Buffer.byteLength(linkname) > MAX_LINKNAME) return undefined;

  const b = Buffer.allocUnsafe(TAR_BLOCK).fill(0);
  b.write(name, 0, 'latin1');
  putOctal(b, 100, h.mode & 0o7777, 6);
  putOctal(b, 108, h.uid, 6);
  putOctal(b, 116, h.gid, 6);
  if (size > MAX_OCTAL_SIZE) putBase256(b, 124, size);
  else putOctal(b, 124, size, 11);
  putOctal(b, 136, h.mtime, 11);
  b[156] = type === undefined ? PAX_TYPEFLAG : TYPEFLAG[type];
  if (linkname) b.write(linkname, 157, 'utf8');
  USTAR_MAGIC.copy(b, 257);
  if (h.uname) b.write(h.uname, 265, 'utf8');
  if (h.gname) b.write(h.gname, 297, 'utf8');
  putOctal(b, 329, h.devmajor ?? 0, 6);
  putOctal(b, 337, h.devminor ?? 0, 6);
  if (prefix) b.write(prefix, 345, 'latin1');
  putOctal(b, 148, checksum(b), 6);
  return b;
}

function paxRecords(h: TarHeader): string {
  let out = record('path', h.name);
  if (h.linkname) out += record('linkpath', h.linkname);
  for (const key in h.pax) out += record(key, h.pax[key]!);
  return out;
}

/** One PAX record: its own length in decimal (counting those digits), a space, key=value and a newline. */
function record(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let digits = String(bodyLength).length;
  if (bodyLength + digits >= 10 ** digits) digits++;
  return `${bodyLength + digits}${body}`;
}

/** Writes `digits` octal digits and a space at `at`; all sevens when the value does not fit. */
function putOctal(b: Buffer, at: number, value: number, digits: number): void {
  const fits = value < 8 ** digits;
  for (let i = at + digits - 1; i >= at; i--) {
    b[i] = fits ? 0x30 + (value % 8) : 0x37;
    value = Math.floor(value / 8);
  }
  b[at + digits] = 0x20;
}

/** GNU base-256: a 0x80 marker byte, then the value big-endian in the field's other 11 bytes. */
function putBase256(b: Buffer, at: number, value: number): void {
  b[at] = 0x80;
  for (let i = 11; i > 0; i--) {
    b[at + i] = value % 256;
    value = Math.floor(value / 256);
  }
}

/** Sum of the block's bytes with the checksum field itself counted as eight spaces. */
function checksum(b: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < TAR_BLOCK; i++) sum += b[i]!;
  return sum;
}
