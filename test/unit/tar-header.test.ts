// format/tar-header.ts against tar-stream 3, the encoder coffer used before:
// for the same fields, both must write the same bytes (header, PAX records,
// data, padding), so sets written before and after the switch hold the same
// tar. Hand-picked boundaries first, then random headers (fast-check, fixed
// seed, bounded runs).
import fc from 'fast-check';
import { pack } from 'tar-stream';
import type { Header } from 'tar-stream';
import { describe, expect, test } from 'vitest';
import { ENTRY_TYPES } from '../../src/format/catalog.js';
import type { EntryType } from '../../src/format/catalog.js';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter, TAR_BLOCK, writeTarHeader } from '../../src/format/tar-header.js';
import type { TarHeader } from '../../src/format/tar-header.js';
import { parseEntryAt } from './tar-parse.js';

const RUNS = { seed: 0x7a4, numRuns: 300 };

const TAR_STREAM_TYPE: Record<EntryType, Header['type']> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  hardlink: 'link',
  fifo: 'fifo',
  'char-device': 'character-device',
  'block-device': 'block-device',
};

/** The entry (with `size` zero bytes of data) and the end of the archive, as tar-stream packs it. */
async function tarStreamBytes(h: TarHeader): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const b of p as AsyncIterable<Buffer>) out.push(b);
  })();
  const header: Header & { pax?: Record<string, string> } = {
    name: h.name,
    // tar-stream turns a mode of 0 into 0644 or 0755; a bit above 0o7777 is masked off when it encodes.
    mode: h.mode & 0o7777 || 0o10000,
    uid: h.uid,
    gid: h.gid,
    mtime: new Date(h.mtime * 1000),
    type: TAR_STREAM_TYPE[h.type],
    size: h.size,
    ...(h.linkname !== undefined ? { linkname: h.linkname } : {}),
    ...(h.uname !== undefined ? { uname: h.uname } : {}),
    ...(h.gname !== undefined ? { gname: h.gname } : {}),
    ...(h.devmajor !== undefined ? { devmajor: h.devmajor, devminor: h.devminor ?? 0 } : {}),
    ...(h.pax ? { pax: h.pax } : {}),
  };
  await new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (h.type === 'file') p.entry(header, Buffer.alloc(h.size), cb);
    else p.entry(header, cb);
  });
  p.finalize();
  await collected;
  return Buffer.concat(out);
}

function ourBytes(h: TarHeader): Buffer {
  return Buffer.concat([encodeTarHeader(h), Buffer.alloc(h.size + paddingAfter(h.size)), END_OF_ARCHIVE]);
}

const base: TarHeader = { name: 'home/user/notes.txt', type: 'file', mode: 0o644, uid: 1000, gid: 1000, size: 12, mtime: 1_700_000_000, uname: 'user', gname: 'user' };

describe('tar headers', () => {
  const cases: [string, TarHeader][] = [
    ['a short ASCII file name: one ustar block', base],
    ['an empty file, mode 000, mtime 0', { ...base, size: 0, mode: 0, mtime: 0 }],
    ['setuid and sticky bits', { ...base, mode: 0o7755 }],
    ['a directory', { ...base, name: 'home/user/', type: 'directory', size: 0, mode: 0o755 }],
    ['a name of exactly 100 bytes', { ...base, name: 'n'.repeat(100) }],
    ['a long name that splits into prefix and name', { ...base, name: `${'d'.repeat(90)}/${'e'.repeat(60)}/${'f'.repeat(90)}` }],
    ['a directory whose last component takes 100 bytes', { ...base, name: `top/${'x'.repeat(100)}/`, type: 'directory', size: 0 }],
    ['a component of more than 100 bytes: PAX path', { ...base, name: `home/${'l'.repeat(120)}` }],
    ['a prefix of more than 155 bytes: PAX path', { ...base, name: `${'a/'.repeat(80)}${'b'.repeat(99)}` }],
    ['a non-ASCII name: PAX path', { ...base, name: 'home/ünïcødé ✓.txt' }],
    ['a symlink to a short target', { ...base, name: 'home/link', type: 'symlink', size: 0, linkname: '../target' }],
    ['a link name of exactly 100 bytes', { ...base, name: 'home/link', type: 'symlink', size: 0, linkname: 't'.repeat(100) }],
    ['a link name of 101 bytes: PAX linkpath', { ...base, name: 'home/link', type: 'symlink', size: 0, linkname: 't'.repeat(101) }],
    ['a non-ASCII link name that fits: kept in the ustar field', { ...base, name: 'home/link', type: 'symlink', size: 0, linkname: 'ünï' }],
    ['a hard link', { ...base, name: 'home/b', type: 'hardlink', size: 0, linkname: 'home/a' }],
    ['a PAX header with a link name', { ...base, name: 'home/link', type: 'symlink', size: 0, linkname: 'x', pax: { mtime: '1700000000.500' } }],
    ['a character device', { ...base, name: 'dev/null', type: 'char-device', size: 0, devmajor: 1, devminor: 3 }],
    ['a block device with large numbers', { ...base, name: 'dev/sda', type: 'block-device', size: 0, devmajor: 0xfff, devminor: 0xfffff }],
    ['a fifo', { ...base, name: 'run/pipe', type: 'fifo', size: 0 }],
    ['no owner names', { ...base, uname: undefined, gname: undefined }],
    ['owner names of exactly 32 bytes', { ...base, uname: 'u'.repeat(32), gname: 'g'.repeat(32) }],
    ['owner names longer than their fields run on into the next ones', { ...base, uname: 'u'.repeat(40), gname: 'g'.repeat(70) }],
    ['non-ASCII owner names in the ustar fields', { ...base, uname: 'jürgen', gname: 'staff✓' }],
    ['owner ids beyond ustar, in PAX records', { ...base, uid: 0, gid: 0, pax: { uid: '3000000', gid: '2097152' } }],
    ['a sub-second mtime in a PAX record', { ...base, pax: { mtime: '1700000000.123' } }],
    ['every PAX record coffer writes', { ...base, uname: undefined, gname: undefined, pax: { uid: '3000000', gid: '3000001', uname: 'ünï', gname: 'g'.repeat(40), mtime: '-1.500' } }],
  ];
  for (const [name, h] of cases) {
    test(name, async () => {
      expect(ourBytes(h).equals(await tarStreamBytes(h))).toBe(true);
    });
  }

  test('written in place: the same block at an offset, nothing around it touched; nothing at all when a PAX header is needed', () => {
    const around = 0xa5;
    for (const [name, h] of cases) {
      const into = Buffer.alloc(3 * TAR_BLOCK, around);
      const wrote = writeTarHeader(h, into, TAR_BLOCK);
      const whole = encodeTarHeader(h);
      expect(wrote, name).toBe(whole.length === TAR_BLOCK);
      const expected = Buffer.alloc(3 * TAR_BLOCK, around);
      if (wrote) whole.copy(expected, TAR_BLOCK);
      expect(into.equals(expected), name).toBe(true);
    }
  });

  test('the checksum sums the bytes as stored, even for numbers that are not whole', () => {
    // Callers pass whole numbers; a fraction stores truncated digits, and the checksum must agree with them.
    const header = encodeTarHeader({ ...base, mode: 0o644, uid: 1000.5, gid: 7.25, size: 12, mtime: 1_700_000_000.75 });
    expect(() => parseEntryAt(Buffer.concat([header, Buffer.alloc(512), END_OF_ARCHIVE]), 0)).not.toThrow();
  });

  test('PAX records whose length crosses a power of ten count their own digits', async () => {
    // ' path=' + name + '\n' is 7 bytes more than the name: lengths 97..103 and 994..1003 around 100 and 1000.
    for (const n of [...Array.from({ length: 8 }, (_, i) => 88 + i), ...Array.from({ length: 12 }, (_, i) => 985 + i)]) {
      const h = { ...base, name: `é${'p'.repeat(n - 2)}` };
      expect(ourBytes(h).equals(await tarStreamBytes(h)), `name of ${n} bytes`).toBe(true);
    }
  });

  test('a size of 8 GiB or more: GNU base-256 in the ustar field, beside the PAX size record', () => {
    const size = 9 * 1024 ** 3 + 5;
    const header = encodeTarHeader({ ...base, size, pax: { size: String(size) } });
    const parsed = parseEntryAt(Buffer.concat([header, Buffer.alloc(512)]), 0);
    expect(parsed.pax.size).toBe(String(size));
    expect(parsed.rawSize[0]).toBe(0x80);
    expect(parsed.rawSize.readUIntBE(6, 6)).toBe(size);
    expect(parsed.dataStart).toBe(header.length);
  });

  test('random headers: the same bytes as tar-stream', async () => {
    const ascii = fc.string({ unit: fc.constantFrom(...'abcxyz0189-_. '.split('')), minLength: 1, maxLength: 60 });
    const anyText = fc.string({ unit: fc.constantFrom('a', 'b', 'ü', '✓', '日', '-', '.'), minLength: 1, maxLength: 40 });
    const component = fc.oneof({ weight: 4, arbitrary: ascii }, { weight: 1, arbitrary: anyText });
    const path = fc.array(component, { minLength: 1, maxLength: 7 }).map((parts) => parts.join('/'));
    const header = fc.record({
      type: fc.constantFrom(...ENTRY_TYPES),
      path,
      link: path,
      size: fc.nat(2000),
      mode: fc.nat(0o7777),
      uid: fc.nat(0o777777),
      gid: fc.nat(0o777777),
      mtime: fc.nat(2 ** 31 - 1),
      uname: fc.option(fc.string({ unit: fc.constantFrom(...'rootuserwwwdata'.split('')), minLength: 1, maxLength: 31 }), { nil: undefined }),
      gname: fc.option(fc.string({ unit: fc.constantFrom(...'wheelstaffusers'.split('')), minLength: 1, maxLength: 31 }), { nil: undefined }),
      dev: fc.tuple(fc.nat(0xfff), fc.nat(0xfffff)),
      pax: fc.option(fc.record({ mtime: fc.constantFrom('1.500', '-20.000', '2208988800.250') }, { requiredKeys: [] }), { nil: undefined }),
    }).map((r): TarHeader => ({
      name: r.type === 'directory' ? `${r.path}/` : r.path,
      type: r.type,
      mode: r.mode,
      uid: r.uid,
      gid: r.gid,
      size: r.type === 'file' ? r.size : 0,
      mtime: r.mtime,
      ...(r.type === 'symlink' || r.type === 'hardlink' ? { linkname: r.link } : {}),
      ...(r.uname !== undefined ? { uname: r.uname } : {}),
      ...(r.gname !== undefined ? { gname: r.gname } : {}),
      ...(r.type === 'char-device' || r.type === 'block-device' ? { devmajor: r.dev[0], devminor: r.dev[1] } : {}),
      ...(r.pax && Object.keys(r.pax).length ? { pax: r.pax } : {}),
    }));
    await fc.assert(fc.asyncProperty(header, async (h) => {
      expect(ourBytes(h).equals(await tarStreamBytes(h))).toBe(true);
    }), RUNS);
  });
});
