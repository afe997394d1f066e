// A minimal, independent tar reader for the tests: parses the ustar header
// (and a preceding PAX extended header) at a given offset, so tests can
// check byte offsets without trusting tar-stream, which coffer itself uses.
import { expect } from 'vitest';

export interface ParsedHeader {
  /** Offset of the entry's first header (the PAX header when there is one). */
  offset: number;
  /** Offset of the entry's data. */
  dataStart: number;
  /** dataStart + size: where the data ends, before padding. */
  dataEnd: number;
  /** Where the next entry's first header starts. */
  next: number;
  typeflag: string;
  name: string;
  linkname: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  uname: string;
  gname: string;
  pax: Record<string, string>;
  /** The raw 'size' field of the ustar header, to check its encoding. */
  rawSize: Buffer;
}

function str(b: Buffer, at: number, len: number): string {
  const field = b.subarray(at, at + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function octal(b: Buffer, at: number, len: number): number {
  const field = b.subarray(at, at + len);
  if (field[0]! & 0x80) {
    // base-256 (GNU): big-endian with the top bit set
    let v = 0n;
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(field[i]!);
    v |= BigInt(field[0]! & 0x7f) << BigInt(8 * (len - 1));
    return Number(v);
  }
  const text = str(b, at, len).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

export function isZeroBlock(tar: Buffer, at: number): boolean {
  return tar.subarray(at, at + 512).every((x) => x === 0);
}

export const padded = (n: number): number => Math.ceil(n / 512) * 512;

function ustarHeader(tar: Buffer, at: number) {
  const h = tar.subarray(at, at + 512);
  expect(h.length, `header at ${at}`).toBe(512);
  // checksum: sum of all bytes with the checksum field counted as spaces
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  expect(octal(h, 148, 8), `checksum of header at ${at}`).toBe(sum);
  // POSIX 'ustar\0' + '00', or GNU 'ustar ' + ' \0'
  expect(h.subarray(257, 262).toString('latin1'), `ustar magic at ${at}`).toBe('ustar');
  const prefix = str(h, 345, 155);
  const name = str(h, 0, 100);
  return {
    typeflag: String.fromCharCode(h[156]!),
    name: prefix ? `${prefix}/${name}` : name,
    linkname: str(h, 157, 100),
    size: octal(h, 124, 12),
    rawSize: Buffer.from(h.subarray(124, 136)),
    mode: octal(h, 100, 8),
    uid: octal(h, 108, 8),
    gid: octal(h, 116, 8),
    mtime: octal(h, 136, 12),
    uname: str(h, 265, 32),
    gname: str(h, 297, 32),
  };
}

export function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const len = parseInt(body.subarray(at, space).toString('latin1'), 10);
    expect(Number.isInteger(len) && len > 0, `pax record length at ${at}`).toBe(true);
    const record = body.subarray(space + 1, at + len);
    expect(record[record.length - 1], 'pax record ends with a newline').toBe(0x0a);
    const text = record.subarray(0, -1).toString('utf8');
    const eq = text.indexOf('=');
    out[text.slice(0, eq)] = text.slice(eq + 1);
    at += len;
  }
  return out;
}

/** Parses the entry whose first header is at `offset`, following a PAX ('x') header if there is one. */
export function parseEntryAt(tar: Buffer, offset: number): ParsedHeader {
  let at = offset;
  let pax: Record<string, string> = {};
  let h = ustarHeader(tar, at);
  if (h.typeflag === 'x') {
    pax = parsePax(tar.subarray(at + 512, at + 512 + h.size));
    at += 512 + padded(h.size);
    h = ustarHeader(tar, at);
  }
  const size = pax.size !== undefined ? Number(pax.size) : h.size;
  const dataStart = at + 512;
  return {
    ...h,
    offset,
    dataStart,
    dataEnd: dataStart + size,
    next: dataStart + padded(size),
    name: pax.path ?? h.name,
    linkname: pax.linkpath ?? h.linkname,
    size,
    uid: pax.uid !== undefined ? Number(pax.uid) : h.uid,
    gid: pax.gid !== undefined ? Number(pax.gid) : h.gid,
    uname: pax.uname ?? h.uname,
    gname: pax.gname ?? h.gname,
    mtime: pax.mtime !== undefined ? Number(pax.mtime) : h.mtime,
    pax,
  };
}

/** Every entry of a whole tar stream, in order; checks the end-of-archive blocks. */
export function parseAll(tar: Buffer): ParsedHeader[] {
  const out: ParsedHeader[] = [];
  let at = 0;
  while (!isZeroBlock(tar, at)) {
    const e = parseEntryAt(tar, at);
    out.push(e);
    at = e.next;
  }
  expect(isZeroBlock(tar, at + 512), 'two zero blocks end the archive').toBe(true);
  return out;
}
