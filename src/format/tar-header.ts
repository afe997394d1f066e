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
/** 8 ** n, the first value n octal digits cannot hold: `**` with a variable exponent is a call to pow. */
const OCTAL_LIMIT = Array.from({ length: 12 }, (_, n) => 8 ** n);
const USTAR_MAGIC_SUM = USTAR_MAGIC.reduce((sum, c) => sum + c, 0);
const OWNER_NAME_BYTES = 32;

/** The bytes that precede an entry's data: its PAX extended header if it needs one, then its ustar block. */
export function encodeTarHeader(h: TarHeader): Buffer {
  if (!h.pax) {
    const plain = Buffer.allocUnsafe(TAR_BLOCK);
    if (writeUstar(plain, 0, h, h.name, h.type, h.size, h.linkname)) return plain;
  }
  const records = Buffer.from(paxRecords(h), 'utf8');
  const padding = paddingAfter(records.length);
  const link = h.linkname ? PAX_NAME : undefined;
  const out = Buffer.allocUnsafe(TAR_BLOCK + records.length + padding + TAR_BLOCK);
  writeUstar(out, 0, h, PAX_NAME, undefined, records.length, link);
  records.copy(out, TAR_BLOCK);
  out.fill(0, TAR_BLOCK + records.length, TAR_BLOCK + records.length + padding);
  writeUstar(out, TAR_BLOCK + records.length + padding, h, PAX_NAME, h.type, h.size, link);
  return out;
}

/**
 * The same bytes as encodeTarHeader, written at `at` in `into` (which has
 * TAR_BLOCK bytes there), when they are a single ustar block: true. False,
 * with nothing written, when the entry needs a PAX header. A backup writes
 * most headers this way, straight into the piece of tar being filled.
 */
export function writeTarHeader(h: TarHeader, into: Uint8Array, at: number): boolean {
  return !h.pax && writeUstar(into, at, h, h.name, h.type, h.size, h.linkname);
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function paddingAfter(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/**
 * A ustar block (`type` undefined: the PAX extended header's) at `at` in
 * `b`; false, with nothing written, when the name or link name does not fit.
 * The checksum is summed as the fields are written, except when a text
 * field overflows into the next or is not ASCII (then the block is summed).
 */
function writeUstar(b: Uint8Array, at: number, h: TarHeader, fullName: string, type: EntryType | undefined, size: number, linkname: string | undefined): boolean {
  if (!isAscii(fullName)) return false;
  let name = fullName;
  let prefix = '';
  // Whole leading components move to `prefix` until the rest fits `name`.
  while (name.length > MAX_NAME) {
    const slash = name.indexOf('/');
    if (slash === -1) return false;
    prefix += prefix ? '/' + name.slice(0, slash) : name.slice(0, slash);
    name = name.slice(slash + 1);
  }
  if (prefix.length > MAX_PREFIX) return false;
  if (linkname && Buffer.byteLength(linkname) > MAX_LINKNAME) return false;

  b.fill(0, at, at + TAR_BLOCK);
  // The checksum field itself counts as eight spaces.
  let sum = 8 * 0x20 + putAscii(b, at, name);
  sum += putOctal(b, at + 100, h.mode & 0o7777, 6);
  sum += putOctal(b, at + 108, h.uid, 6);
  sum += putOctal(b, at + 116, h.gid, 6);
  sum += size > MAX_OCTAL_SIZE ? putBase256(b, at + 124, size) : putOctal(b, at + 124, size, 11);
  sum += putOctal(b, at + 136, h.mtime, 11);
  const flag = type === undefined ? PAX_TYPEFLAG : TYPEFLAG[type];
  b[at + 156] = flag;
  sum += flag;
  // undefined once a text field was not summed as written (see putText).
  let summed: number | undefined = sum;
  if (linkname) summed = plus(summed, putText(b, at, 157, linkname, MAX_LINKNAME));
  b.set(USTAR_MAGIC, at + 257);
  summed = plus(summed, USTAR_MAGIC_SUM);
  if (h.uname) summed = plus(summed, putText(b, at, 265, h.uname, OWNER_NAME_BYTES));
  if (h.gname) summed = plus(summed, putText(b, at, 297, h.gname, OWNER_NAME_BYTES));
  summed = plus(summed, putOctal(b, at + 329, h.devmajor ?? 0, 6));
  summed = plus(summed, putOctal(b, at + 337, h.devminor ?? 0, 6));
  if (prefix) summed = plus(summed, putAscii(b, at + 345, prefix));
  sum = summed ?? checksum(b, at);
  putOctal(b, at + 148, sum, 6);
  return true;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Writes an ASCII string at `at`; returns the sum of its bytes. */
function putAscii(b: Uint8Array, at: number, s: string): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    b[at + i] = c;
    sum += c;
  }
  return sum;
}

/**
 * Writes `s` as UTF-8 at `offset` in the block at `at`, as Buffer.write
 * does: cut only by the block's end, so a long owner name runs into the next
 * field (tar-stream wrote them so). Returns the sum of its bytes when it was
 * ASCII within `field` bytes; undefined otherwise, as later fields may then
 * overwrite some of them.
 */
function putText(b: Uint8Array, at: number, offset: number, s: string, field: number): number | undefined {
  if (s.length <= field && isAscii(s)) return putAscii(b, at + offset, s);
  Buffer.from(b.buffer, b.byteOffset + at, TAR_BLOCK).write(s, offset, 'utf8');
  return undefined;
}

function plus(sum: number | undefined, n: number | undefined): number | undefined {
  return sum === undefined || n === undefined ? undefined : sum + n;
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

/** Writes `digits` octal digits and a space at `at`, all sevens when the value does not fit; returns the sum of those bytes. */
function putOctal(b: Uint8Array, at: number, value: number, digits: number): number {
  const fits = value < OCTAL_LIMIT[digits]!;
  let sum = 0x20;
  for (let i = at + digits - 1; i >= at; i--) {
    b[i] = fits ? 0x30 + (value % 8) : 0x37;
    sum += b[i]!; // as stored: a value that is not a whole number stores truncated digits
    value = Math.floor(value / 8);
  }
  b[at + digits] = 0x20;
  return sum;
}

/** GNU base-256: a 0x80 marker byte, then the value big-endian in the field's other 11 bytes; returns the sum of those bytes. */
function putBase256(b: Uint8Array, at: number, value: number): number {
  b[at] = 0x80;
  let sum = 0x80;
  for (let i = 11; i > 0; i--) {
    b[at + i] = value % 256;
    sum += b[at + i]!;
    value = Math.floor(value / 256);
  }
  return sum;
}

/** Sum of the block's bytes with the checksum field itself counted as eight spaces. */
function checksum(b: Uint8Array, at: number): number {
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += b[i]!;
  for (let i = at + 156; i < at + TAR_BLOCK; i++) sum += b[i]!;
  return sum;
}
