/**
 * Decoding of tar header blocks (ustar, PAX and GNU long names), read the
 * way tar-stream reads them, so the archives coffer has always written read
 * the same: numbers in octal or base-256, the ustar prefix joined to the
 * name, a checksum that must match, an all-zero block meaning no entry.
 * Pure functions of bytes; the framing is restore/untar.ts's, and encoding
 * is tar-header.ts's.
 */
import { TAR_BLOCK } from './tar-header.js';

export type EntryKind =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-link-path'
  | 'gnu-long-path';

/** A decoded header. Numbers are null when a base-256 field has a bad lead byte, NaN when not a number at all. */
export interface EntryHeader {
  name: string;
  type: EntryKind | null;
  mode: number | null;
  uid: number | null;
  gid: number | null;
  size: number | null;
  mtime: Date;
  linkname: string | null;
  uname: string;
  gname: string;
  devmajor: number | null;
  devminor: number | null;
  /** The entry's PAX records (global ones merged in), when it had any. */
  pax: Record<string, string> | null;
}

export class TarFormatError extends Error {}

const TYPES: Record<number, EntryKind> = {
  0: 'file',
  1: 'link',
  2: 'symlink',
  3: 'character-device',
  4: 'block-device',
  5: 'directory',
  6: 'fifo',
  7: 'contiguous-file',
  72: 'pax-header',
  55: 'pax-global-header',
  27: 'gnu-long-link-path',
  28: 'gnu-long-path',
  30: 'gnu-long-path',
};

const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');
const GNU_MAGIC = Buffer.from('ustar ', 'latin1');
const GNU_VERSION = Buffer.from(' \0', 'latin1');
const SPACE = 0x20;
const ZERO_DIGIT = 0x30;

/** The header in a 512-byte block, or null for an all-zero block (the end-of-archive marker). */
export function decodeHeader(block: Buffer): EntryHeader | null {
  const sum = checksum(block);
  // The checksum field counts as spaces: an all-zero block sums to exactly that.
  if (sum === 8 * SPACE) return null;
  if (sum !== decodeNumber(block, 148, 8)) throw new TarFormatError('invalid tar header (bad checksum)');
  let typeflag = block[156] === 0 ? 0 : block[156]! - ZERO_DIGIT;
  let name = decodeString(block, 0, 100);
  if (bytesAt(block, 257, USTAR_MAGIC)) {
    if (block[345]) name = `${decodeString(block, 345, 155)}/${name}`;
  } else if (!(bytesAt(block, 257, GNU_MAGIC) && bytesAt(block, 263, GNU_VERSION))) {
    throw new TarFormatError('invalid tar header (unknown format)');
  }
  // Old tars mark directories with a trailing slash only.
  if (typeflag === 0 && name.endsWith('/')) typeflag = 5;
  return {
    name,
    type: TYPES[typeflag] ?? null,
    mode: decodeNumber(block, 100, 8),
    uid: decodeNumber(block, 108, 8),
    gid: decodeNumber(block, 116, 8),
    size: decodeNumber(block, 124, 12),
    mtime: new Date(1000 * (decodeNumber(block, 136, 12) ?? NaN)),
    linkname: block[157] === 0 ? null : decodeString(block, 157, 100),
    uname: decodeString(block, 265, 32),
    gname: decodeString(block, 297, 32),
    devmajor: decodeNumber(block, 329, 8),
    devminor: decodeNumber(block, 337, 8),
    pax: null,
  };
}

/** PAX records ("LEN key=value\n" ...); stops quietly at the first malformed record, as tar-stream does. */
export function decodePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  while (buf.length) {
    let i = 0;
    while (i < buf.length && buf[i] !== SPACE) i++;
    const length = parseInt(buf.toString('utf8', 0, i), 10);
    if (!length) return out;
    const record = buf.toString('utf8', i + 1, length - 1);
    const eq = record.indexOf('=');
    if (eq === -1) return out;
    out[record.slice(0, eq)] = record.slice(eq + 1);
    buf = buf.subarray(length);
  }
  return out;
}

/** A GNU long name or link: the whole record up to its first NUL. */
export function decodeLongName(buf: Buffer): string {
  return decodeString(buf, 0, buf.length);
}

function checksum(block: Buffer): number {
  let sum = 8 * SPACE;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < TAR_BLOCK; i++) sum += block[i]!;
  return sum;
}

/** Whether `block` holds `bytes` at `offset`; compared in place, as a view per field costs more than the field. */
function bytesAt(block: Buffer, offset: number, bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (block[offset + i] !== bytes[i]) return false;
  return true;
}

function decodeString(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end === -1 || end > offset + length ? offset + length : end);
}

/** Octal (optionally space-led and -ended) or, with the high bit set, base-256; null for a bad base-256 lead byte. */
function decodeNumber(block: Buffer, offset: number, length: number): number | null {
  const limit = offset + length;
  if (block[offset]! & 0x80) return decodeBase256(block, offset, limit);
  let start = offset;
  while (start < limit && block[start] === SPACE) start++;
  let end = start;
  while (end < limit && block[end] !== SPACE) end++;
  while (start < end && block[start] === 0) start++;
  if (start === end) return 0;
  return parseOctal(block, start, end);
}

/**
 * What parseInt(field.toString('latin1', start, end), 8) returns, without
 * the string (six per header, on every entry of a restore): leading white
 * space, a sign, then the longest run of octal digits; NaN if there is none.
 */
function parseOctal(field: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && isJsWhiteSpace(field[i]!)) i++;
  const negative = i < end && field[i] === 0x2d;
  if (negative || (i < end && field[i] === 0x2b)) i++;
  const first = i;
  let n = 0;
  for (; i < end; i++) {
    const digit = field[i]! - ZERO_DIGIT;
    if (digit < 0 || digit > 7) break;
    n = n * 8 + digit;
  }
  if (i === first) return NaN;
  return negative ? -n : n;
}

/** The latin1 bytes that parseInt skips as white space: tab to carriage return, space, no-break space. */
function isJsWhiteSpace(byte: number): boolean {
  return (byte >= 0x09 && byte <= 0x0d) || byte === SPACE || byte === 0xa0;
}

function decodeBase256(block: Buffer, offset: number, limit: number): number | null {
  const positive = block[offset] === 0x80;
  if (!positive && block[offset] !== 0xff) return null;
  let sum = 0;
  for (let i = offset + 1; i < limit; i++) sum = sum * 256 + (positive ? block[i]! : 0xff - block[i]!);
  return positive ? sum : -sum;
}
