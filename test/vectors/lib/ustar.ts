/**
 * A tiny tar writer for vector payloads, laid out byte for byte as coffer's
 * backup writes tar (src/format/tar-header.ts, as src/backup/tar.ts uses it):
 * ustar headers, a PAX extended header when an entry needs one, data padded
 * to 512 bytes, two zero blocks at the end and no further record padding.
 * Written by hand so vectors do not move when coffer's encoder does.
 */

export interface TarEntry {
  /** Archive path without a leading '/'; directories without a trailing '/'. */
  path: string;
  type: 'file' | 'directory';
  mode: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  data?: Buffer;
}

const BLOCK = 512;

function octal(value: number, digits: number): string {
  return value.toString(8).padStart(digits, '0') + ' ';
}

function header(name: string, type: number, size: number, e: TarEntry): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 'latin1');
  b.write(octal(e.mode & 0o7777, 6), 100, 'latin1');
  b.write(octal(e.uid, 6), 108, 'latin1');
  b.write(octal(e.gid, 6), 116, 'latin1');
  b.write(octal(size, 11), 124, 'latin1');
  b.write(octal(Math.floor(e.mtimeMs / 1000), 11), 136, 'latin1');
  b[156] = type;
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.write(e.uname, 265, 'latin1');
  b.write(e.gname, 297, 'latin1');
  b.write(octal(0, 6), 329, 'latin1');
  b.write(octal(0, 6), 337, 'latin1');
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += b[i]!;
  b.write(octal(sum, 6), 148, 'latin1');
  return b;
}

/** One PAX record: decimal length of the whole record, space, key=value, newline. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len++;
  return `${len}${body}`;
}

function pad(n: number): Buffer {
  return Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
}

export function ustar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  const push = (b: Buffer) => parts.push(b);
  for (const e of entries) {
    const name = e.type === 'directory' ? `${e.path}/` : e.path;
    const type = e.type === 'directory' ? 0x35 : 0x30;
    const data = e.data ?? Buffer.alloc(0);
    if (e.mtimeMs % 1000 !== 0) {
      // coffer keeps sub-second mtimes in a PAX record, and then names both
      // headers 'PaxHeader' and carries the real name in a path record.
      const pax = Buffer.from(paxRecord('path', name) + paxRecord('mtime', (e.mtimeMs / 1000).toFixed(3)), 'utf8');
      push(header('PaxHeader', 0x78, pax.length, e));
      push(pax);
      push(pad(pax.length));
      push(header('PaxHeader', type, data.length, e));
    } else {
      push(header(name, type, data.length, e));
    }
    push(data);
    push(pad(data.length));
  }
  push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
