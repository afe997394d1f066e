// format/: the pure codecs. Volume headers, key stanzas, manifest headers,
// catalog entries and set ids round trip, and every decoder names what it
// refuses with an IntegrityError and a stable code.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CofferError, IntegrityError } from '../../src/errors.js';
import { decodeCatalogEntry, encodeCatalogEntry, ENTRY_TYPES } from '../../src/format/catalog.js';
import type { CatalogEntry } from '../../src/format/catalog.js';
import { chunkAad, chunkNonce, ChunkFlag, END_FRAME_BYTES, maxFrameBytes, maxSealedBytes } from '../../src/format/chunk.js';
import {
  decodeManifestHeader,
  encodeManifestAuth,
  encodeManifestHeaderJson,
  MANIFEST_MAGIC,
  MANIFEST_PREFIX_BYTES,
  manifestHeaderLength,
  signatureMessage,
  SIGNATURE_CONTEXT,
  volumeName,
} from '../../src/format/manifest.js';
import type { ManifestHeader } from '../../src/format/manifest.js';
import { newSetId, parseSetIdText, setIdText, setIdTime } from '../../src/format/set-id.js';
import {
  decodeStanza,
  decodeVolumeHeader,
  encodeStanza,
  encodeVolumeHeader,
  HEADER_MAC_BYTES,
  VOLUME_MAGIC,
  volumeHeaderLength,
} from '../../src/format/volume-header.js';
import type { Stanza, VolumeHeader } from '../../src/format/volume-header.js';
import { fromB64url, readU64, toB64url } from '../../src/format/bytes.js';

/** Runs fn and returns the error it throws, asserting it is an IntegrityError with that code. */
function integrity(fn: () => unknown, code: string): IntegrityError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected IntegrityError ${code}`).toBeInstanceOf(IntegrityError);
  expect((caught as CofferError).code).toBe(code);
  expect((caught as CofferError).exitCode).toBe(3);
  return caught as IntegrityError;
}

export function sampleStanzas(): Stanza[] {
  return [
    { type: 'x25519', ephemeral: randomBytes(32), wrapped: randomBytes(48) },
    { type: 'scrypt', params: { logN: 18, r: 8, p: 1 }, salt: randomBytes(16), wrapped: randomBytes(48) },
    { type: 'unknown', code: 200, body: randomBytes(5) },
    { type: 'unknown', code: 0, body: Buffer.alloc(0) },
  ];
}

function sampleHeader(stanzas: Stanza[] = sampleStanzas()): VolumeHeader {
  return { setId: newSetId(), volumeIndex: 3, firstChunk: 12345, chunkSize: 1024 * 1024, stanzas };
}

/** A complete header: the encoded bytes plus a (fake) MAC. */
function withMac(h: VolumeHeader): Buffer {
  return Buffer.concat([encodeVolumeHeader(h), Buffer.alloc(HEADER_MAC_BYTES, 0xab)]);
}

describe('volume header', () => {
  test('round trip with every stanza kind', () => {
    const h = sampleHeader();
    const bytes = withMac(h);
    expect(bytes.subarray(0, 8).equals(VOLUME_MAGIC)).toBe(true);
    expect(volumeHeaderLength(bytes.subarray(0, 14))).toBe(bytes.length);
    const d = decodeVolumeHeader(bytes);
    expect(d.header).toEqual(h);
    expect(d.macInput.equals(encodeVolumeHeader(h))).toBe(true);
    expect(d.mac.equals(Buffer.alloc(32, 0xab))).toBe(true);
  });

  test('round trip with no stanzas, and at the limits of each field', () => {
    for (const h of [
      { ...sampleHeader([]), volumeIndex: 1, firstChunk: 0, chunkSize: 4096 },
      { ...sampleHeader([]), volumeIndex: 0xffffffff, firstChunk: Number.MAX_SAFE_INTEGER, chunkSize: 16 * 1024 * 1024 },
    ]) {
      expect(decodeVolumeHeader(withMac(h)).header).toEqual(h);
    }
  });

  test('names the volume in errors when given', () => {
    const bytes = withMac(sampleHeader());
    bytes[0] = 0;
    const e = integrity(() => decodeVolumeHeader(bytes, 'volume-000003'), 'bad-volume-header');
    expect(e.where.volume).toBe('volume-000003');
    expect(e.message).toContain('volume-000003');
  });

  test('bad magic, unknown version, implausible lengths', () => {
    const good = withMac(sampleHeader());
    const badMagic = Buffer.from(good);
    badMagic[6] = 0x01;
    integrity(() => volumeHeaderLength(badMagic.subarray(0, 14)), 'bad-volume-header');
    integrity(() => volumeHeaderLength(MANIFEST_MAGIC), 'bad-volume-header'); // a manifest is not a volume
    for (const version of [0, 2, 0xffff]) {
      const v = Buffer.from(good);
      v.writeUInt16BE(version, 8);
      const e = integrity(() => decodeVolumeHeader(v), 'unsupported-version');
      expect(e.message).toContain(`version ${version}`);
    }
    for (const length of [0, 79, 64 * 1024 + 1, 0xffffffff]) {
      const l = Buffer.from(good);
      l.writeUInt32BE(length, 10);
      integrity(() => volumeHeaderLength(l.subarray(0, 14)), 'bad-volume-header');
    }
  });

  test('truncation at every length, and extra bytes', () => {
    const good = withMac(sampleHeader());
    for (let len = 0; len < good.length; len++) integrity(() => decodeVolumeHeader(good.subarray(0, len)), 'bad-volume-header');
    integrity(() => decodeVolumeHeader(Buffer.concat([good, Buffer.of(0)])), 'bad-volume-header');
  });

  test('out-of-range fields', () => {
    const cases: [string, (b: Buffer) => void][] = [
      ['volume index 0', (b) => b.writeUInt32BE(0, 30)],
      ['first chunk beyond 2^53', (b) => b.writeBigUInt64BE(2n ** 53n, 34)],
      ['chunk size too small', (b) => b.writeUInt32BE(4095, 42)],
      ['chunk size too large', (b) => b.writeUInt32BE(16 * 1024 * 1024 + 1, 42)],
    ];
    for (const [name, edit] of cases) {
      const b = withMac(sampleHeader());
      edit(b);
      expect(() => decodeVolumeHeader(b), name).toThrow(IntegrityError);
      integrity(() => decodeVolumeHeader(b), 'bad-volume-header');
    }
  });

  test('malformed stanzas and a stanza count that does not match', () => {
    const h = sampleHeader([{ type: 'x25519', ephemeral: randomBytes(32), wrapped: randomBytes(48) }]);
    // count says two, only one is there (the MAC is not a stanza)
    const more = withMac(h);
    more.writeUInt16BE(2, 46);
    integrity(() => decodeVolumeHeader(more), 'bad-volume-header');
    // count says zero, a stanza is left over
    const fewer = withMac(h);
    fewer.writeUInt16BE(0, 46);
    integrity(() => decodeVolumeHeader(fewer), 'bad-volume-header');
    // an x25519 stanza of the wrong length
    const short = withMac(h);
    short.writeUInt16BE(79, 49);
    integrity(() => decodeVolumeHeader(short), 'bad-volume-header');
    // a stanza whose length runs into the MAC
    const long = withMac(h);
    long[48] = 77; // unknown type: any length is allowed, but not past the MAC
    long.writeUInt16BE(81, 49);
    integrity(() => decodeVolumeHeader(long), 'bad-volume-header');
  });
});

describe('stanza codec', () => {
  test('each kind round trips, at any offset', () => {
    for (const s of sampleStanzas()) {
      const bytes = Buffer.concat([Buffer.from('xyz'), encodeStanza(s), Buffer.from('tail')]);
      const d = decodeStanza(bytes, 3)!;
      expect(d.stanza).toEqual(s);
      expect(bytes.subarray(d.next).toString()).toBe('tail');
    }
  });

  test('refuses truncation and wrong fixed lengths', () => {
    for (const s of sampleStanzas()) {
      const bytes = encodeStanza(s);
      for (let len = 0; len < bytes.length; len++) expect(decodeStanza(bytes.subarray(0, len), 0), `${s.type} cut to ${len}`).toBeUndefined();
    }
    const x = encodeStanza(sampleStanzas()[0]!);
    expect(decodeStanza(Buffer.concat([Buffer.of(1, 0, 81), randomBytes(81)]), 0)).toBeUndefined();
    expect(decodeStanza(Buffer.concat([Buffer.of(2, 0, 66), randomBytes(66)]), 0)).toBeUndefined();
    expect(decodeStanza(x, x.length)).toBeUndefined();
  });
});

function sampleManifest(over: Partial<ManifestHeader> = {}): ManifestHeader {
  const set = setIdText(newSetId());
  return {
    format: 1,
    tool: 'coffer 0.1.0',
    set,
    created: new Date().toISOString(),
    label: 'nightly ünïcode',
    chunkSize: 1024 * 1024,
    stanzas: sampleStanzas(),
    volumes: [
      { index: 1, name: 'volume-000001', size: 1000, sha256: 'a'.repeat(64), firstChunk: 0, dataChunks: 3 },
      { index: 2, name: 'volume-000002', size: 500, sha256: '0123456789abcdef'.repeat(4), firstChunk: 4, dataChunks: 1 },
    ],
    tarBytes: 4 * 1024 * 1024 - 7,
    catalog: { size: 99, sha256: 'b'.repeat(64), dataChunks: 1 },
    signer: randomBytes(32),
    ...over,
  };
}

/** Encodes a manifest header whose JSON body is given as an object (or raw text). */
function rawManifest(body: unknown): Buffer {
  const json = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const prefix = Buffer.alloc(MANIFEST_PREFIX_BYTES);
  MANIFEST_MAGIC.copy(prefix);
  prefix.writeUInt16BE(1, 8);
  prefix.writeUInt32BE(json.length, 10);
  return Buffer.concat([prefix, json]);
}

function manifestJson(h: ManifestHeader): Record<string, unknown> {
  return JSON.parse(encodeManifestHeaderJson(h).subarray(MANIFEST_PREFIX_BYTES).toString('utf8')) as Record<string, unknown>;
}

describe('manifest header', () => {
  test('round trip, signed and unsigned', () => {
    for (const h of [sampleManifest(), sampleManifest({ signer: null, stanzas: [], label: '' })]) {
      const bytes = encodeManifestHeaderJson(h);
      expect(manifestHeaderLength(bytes.subarray(0, MANIFEST_PREFIX_BYTES))).toBe(bytes.length);
      expect(decodeManifestHeader(bytes)).toEqual(h);
    }
  });

  test('auth bytes and signature message layout', () => {
    const mac = randomBytes(32);
    const sig = randomBytes(64);
    expect(encodeManifestAuth(mac, sig).equals(Buffer.concat([mac, Buffer.of(1), sig]))).toBe(true);
    expect(encodeManifestAuth(mac, null).equals(Buffer.concat([mac, Buffer.of(0)]))).toBe(true);
    const hb = encodeManifestHeaderJson(sampleManifest());
    expect(signatureMessage(hb).equals(Buffer.concat([SIGNATURE_CONTEXT, hb]))).toBe(true);
  });

  test('bad magic, unknown version, implausible length', () => {
    const good = encodeManifestHeaderJson(sampleManifest());
    integrity(() => manifestHeaderLength(VOLUME_MAGIC), 'bad-manifest');
    integrity(() => manifestHeaderLength(good.subarray(0, 13)), 'bad-manifest');
    const m = Buffer.from(good);
    m[0] = 0x43;
    integrity(() => manifestHeaderLength(m), 'bad-manifest');
    for (const version of [0, 2, 0xffff]) {
      const v = Buffer.from(good);
      v.writeUInt16BE(version, 8);
      integrity(() => manifestHeaderLength(v), 'unsupported-version');
    }
    const l = Buffer.from(good);
    l.writeUInt32BE(64 * 1024 * 1024 + 1, 10);
    integrity(() => manifestHeaderLength(l), 'bad-manifest');
  });

  test('bad JSON and truncation', () => {
    const good = encodeManifestHeaderJson(sampleManifest());
    for (const text of ['', '{', 'nul', '{"format":1,}', '\u0000']) integrity(() => decodeManifestHeader(rawManifest(text)), 'bad-manifest');
    for (const cut of [MANIFEST_PREFIX_BYTES, MANIFEST_PREFIX_BYTES + 1, good.length >> 1, good.length - 1]) {
      integrity(() => decodeManifestHeader(good.subarray(0, cut)), 'bad-manifest');
    }
  });

  test.each([null, [], 1, 'text', true])('a JSON %j instead of an object', (v) => {
    integrity(() => decodeManifestHeader(rawManifest(v)), 'bad-manifest');
  });

  const h = sampleManifest();
  const good = manifestJson(h);
  const edits: [string, (j: Record<string, unknown>) => void][] = [
    ['format 2', (j) => (j.format = 2)],
    ['format as a string', (j) => (j.format = '1')],
    ['set missing', (j) => delete j.set],
    ['set not an id', (j) => (j.set = 'latest')],
    ['set with upper-case hex', (j) => (j.set = (j.set as string).toUpperCase())],
    ['set before 1970', (j) => (j.set = '19691231T235959.999Z-0123456789abcdef')],
    ['tool a number', (j) => (j.tool = 1)],
    ['created missing', (j) => delete j.created],
    ['label null', (j) => (j.label = null)],
    ['chunk size too small', (j) => (j.chunkSize = 4095)],
    ['chunk size too large', (j) => (j.chunkSize = 16 * 1024 * 1024 + 1)],
    ['chunk size fractional', (j) => (j.chunkSize = 4096.5)],
    ['chunk size a string', (j) => (j.chunkSize = '1048576')],
    ['tarBytes negative', (j) => (j.tarBytes = -1)],
    ['tarBytes beyond 2^53', (j) => (j.tarBytes = 2 ** 53)],
    ['stanzas not a list', (j) => (j.stanzas = 'x')],
    ['stanza not base64url', (j) => (j.stanzas = ['+/=='])],
    ['stanza not a string', (j) => (j.stanzas = [5])],
    ['stanza with trailing bytes', (j) => (j.stanzas = [toB64url(Buffer.concat([encodeStanza(sampleStanzas()[0]!), Buffer.of(0)]))])],
    ['stanza truncated', (j) => (j.stanzas = [toB64url(encodeStanza(sampleStanzas()[0]!).subarray(0, 50))])],
    ['no volumes', (j) => (j.volumes = [])],
    ['volumes not a list', (j) => (j.volumes = {})],
    ['volume record null', (j) => (j.volumes = [null])],
    ['volume out of order', (j) => (j.volumes = [...(j.volumes as unknown[])].reverse())],
    ['volume misnamed', (j) => ((j.volumes as Record<string, unknown>[])[1]!.name = 'volume-2')],
    ['volume hash upper case', (j) => ((j.volumes as Record<string, unknown>[])[0]!.sha256 = 'A'.repeat(64))],
    ['volume size negative', (j) => ((j.volumes as Record<string, unknown>[])[0]!.size = -5)],
    ['volume dataChunks missing', (j) => delete (j.volumes as Record<string, unknown>[])[0]!.dataChunks],
    ['catalog missing', (j) => delete j.catalog],
    ['catalog hash short', (j) => ((j.catalog as Record<string, unknown>).sha256 = 'b'.repeat(63))],
    ['signer missing', (j) => delete j.signer],
    ['signer short', (j) => (j.signer = toB64url(randomBytes(31)))],
    ['signer not canonical base64url', (j) => (j.signer = (j.signer as string).slice(0, -1) + String.fromCharCode((j.signer as string).charCodeAt(42) ^ 1))],
    ['signer a number', (j) => (j.signer = 0)],
  ];
  test.each(edits)('refuses: %s', (_name, edit) => {
    const j = structuredClone(good);
    edit(j);
    integrity(() => decodeManifestHeader(rawManifest(j)), 'bad-manifest');
  });

  test('unknown fields are ignored', () => {
    const j = { ...structuredClone(good), extra: { anything: [1, 2] } };
    expect(decodeManifestHeader(rawManifest(j))).toEqual(h);
  });

  test('volume names', () => {
    expect(volumeName(1)).toBe('volume-000001');
    expect(volumeName(999999)).toBe('volume-999999');
    expect(volumeName(1234567)).toBe('volume-1234567');
  });
});

function sampleEntries(): CatalogEntry[] {
  const base = { mode: 0o644, mtime: 1700000000.123, uid: 1000, gid: 1000, offset: 0, end: 0 };
  return [
    { ...base, path: 'home/a/file.txt', type: 'file', size: 11, sha256: 'c'.repeat(64), uname: 'alice', gname: 'staff', offset: 512, end: 1035 },
    { ...base, path: 'home/a', type: 'directory', size: 0, mode: 0o755 },
    { ...base, path: 'home/a/ln', type: 'symlink', size: 0, link: '../b/ünï' },
    { ...base, path: 'home/a/hard', type: 'hardlink', size: 0, link: 'home/a/file.txt' },
    { ...base, path: 'dev/null', type: 'char-device', size: 0, devmajor: 1, devminor: 3 },
    { ...base, path: 'dev/sda', type: 'block-device', size: 0, devmajor: 8, devminor: 0 },
    { ...base, path: 'tmp/fifo', type: 'fifo', size: 0, mtime: -1.5 },
    { ...base, path: 'big', type: 'file', size: 9 * 1024 ** 3, sha256: 'd'.repeat(64), offset: 2 ** 40, end: 2 ** 40 + 1536 + 9 * 1024 ** 3 },
  ];
}

describe('catalog entries', () => {
  test('every type round trips as one JSON line', () => {
    const entries = sampleEntries();
    expect(new Set(entries.map((e) => e.type))).toEqual(new Set(ENTRY_TYPES));
    entries.forEach((e, i) => {
      const line = encodeCatalogEntry(e);
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      expect(decodeCatalogEntry(line.slice(0, -1), i + 1)).toEqual(e);
    });
  });

  test('a path with a newline stays on one line', () => {
    const e = { ...sampleEntries()[0]!, path: 'odd\nname' };
    const line = encodeCatalogEntry(e);
    expect(line.split('\n').length).toBe(2);
    expect(decodeCatalogEntry(line.trimEnd(), 1)).toEqual(e);
  });

  const good = sampleEntries()[0]!;
  const edits: [string, (j: Record<string, unknown>) => void][] = [
    ['path missing', (j) => delete j.path],
    ['path empty', (j) => (j.path = '')],
    ['path a number', (j) => (j.path = 1)],
    ['unknown type', (j) => (j.type = 'socket')],
    ['size negative', (j) => (j.size = -1)],
    ['size fractional', (j) => (j.size = 1.5)],
    ['size a string', (j) => (j.size = '11')],
    ['size beyond 2^53', (j) => (j.size = 2 ** 53)],
    ['mode missing', (j) => delete j.mode],
    ['uid null', (j) => (j.uid = null)],
    ['gid negative', (j) => (j.gid = -1)],
    ['offset missing', (j) => delete j.offset],
    ['end a string', (j) => (j.end = '1035')],
    ['end before offset', (j) => (j.end = 511)],
    ['mtime a string', (j) => (j.mtime = '2024-01-01')],
    ['mtime null', (j) => (j.mtime = null)],
    ['uname a number', (j) => (j.uname = 5)],
    ['gname an object', (j) => (j.gname = {})],
    ['link a list', (j) => (j.link = ['x'])],
    ['sha256 upper case', (j) => (j.sha256 = 'C'.repeat(64))],
    ['sha256 short', (j) => (j.sha256 = 'c'.repeat(63))],
    ['sha256 null', (j) => (j.sha256 = null)],
    ['devmajor a string', (j) => (j.devmajor = '8')],
    ['devminor negative', (j) => (j.devminor = -1)],
  ];
  test.each(edits)('refuses: %s', (_name, edit) => {
    const j = structuredClone(good) as unknown as Record<string, unknown>;
    edit(j);
    const e = integrity(() => decodeCatalogEntry(JSON.stringify(j), 42), 'bad-catalog');
    expect(e.message).toContain('42');
  });

  test.each(['', '{', 'null', '[]', '"x"', '7', '{"path":"a"}garbage'])('refuses the line %j', (line) => {
    integrity(() => decodeCatalogEntry(line, 1), 'bad-catalog');
  });
});

describe('set ids', () => {
  test('text round trip, sorted by creation time', () => {
    const times = [0, 1, 999, 1700000000000, Date.UTC(2026, 10, 23, 9, 15, 0, 123), Date.UTC(9999, 11, 31, 23, 59, 59, 999)];
    const texts = times.map((t) => {
      const id = newSetId(new Date(t));
      const text = setIdText(id);
      expect(text).toMatch(/^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{16}$/);
      expect(parseSetIdText(text)?.equals(id)).toBe(true);
      expect(setIdTime(id).getTime()).toBe(t);
      return text;
    });
    expect([...texts].sort()).toEqual(texts);
    expect(setIdText(newSetId(new Date(Date.UTC(2026, 10, 23, 9, 15, 0, 123))))).toMatch(/^20261123T091500\.123Z-/);
  });

  test.each([
    '',
    'latest',
    '20261123T091500.123Z',
    '20261123T091500.123Z-9f3a2c1b7e4d5a6',
    '20261123T091500.123Z-9f3a2c1b7e4d5a600',
    '20261123T091500.123Z-9F3A2C1B7E4D5A60',
    '20261123T091500Z-9f3a2c1b7e4d5a60',
    '20260230T091500.123Z-9f3a2c1b7e4d5a60', // 30 February
    '20261323T091500.123Z-9f3a2c1b7e4d5a60', // month 13
    '20261123T246000.123Z-9f3a2c1b7e4d5a60',
    '19691231T235959.999Z-9f3a2c1b7e4d5a60', // before the epoch: not representable
    '00000101T000000.000Z-9f3a2c1b7e4d5a60',
    ' 20261123T091500.123Z-9f3a2c1b7e4d5a60',
  ])('parseSetIdText refuses %j without throwing', (text) => {
    expect(parseSetIdText(text)).toBeUndefined();
  });

  test('setIdText never throws, whatever the 16 bytes', () => {
    for (const first of [0n, 1n, 8_640_000_000_000_000n, 8_640_000_000_000_001n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]) {
      const id = Buffer.alloc(16, 0x5a);
      id.writeBigUInt64BE(first, 0);
      expect(typeof setIdText(id)).toBe('string');
    }
  });
});

describe('chunk framing', () => {
  test('AAD binds set, volume, chunk and flag; the nonce is the chunk index', () => {
    const set = newSetId();
    const aad = chunkAad(set, 2, 7, ChunkFlag.endOfVolume);
    expect(aad.length).toBe(16 + 4 + 8 + 1);
    expect(aad.subarray(0, 16).equals(set)).toBe(true);
    expect(aad.readUInt32BE(16)).toBe(2);
    expect(aad.readBigUInt64BE(20)).toBe(7n);
    expect(aad[28]).toBe(ChunkFlag.endOfVolume);
    const all = new Set([chunkAad(set, 2, 7, 0), chunkAad(set, 2, 7, 1), chunkAad(set, 2, 7, 2), chunkAad(set, 3, 7, 0), chunkAad(set, 2, 8, 0)].map((b) => b.toString('hex')));
    expect(all.size).toBe(5);
    expect(chunkNonce(0).equals(Buffer.alloc(12))).toBe(true);
    expect(chunkNonce(2 ** 40 + 5).subarray(4).readBigUInt64BE(0)).toBe(2n ** 40n + 5n);
    expect(maxSealedBytes(4096)).toBe(1 + 4 + 4096 + 16); // codec, padded length (--pad), chunk, tag
    expect(maxFrameBytes(4096)).toBe(4 + maxSealedBytes(4096));
    expect(END_FRAME_BYTES).toBe(21);
  });
});

describe('bytes helpers', () => {
  test('base64url: canonical only', () => {
    for (let n = 0; n < 70; n++) {
      const b = randomBytes(n);
      expect(fromB64url(toB64url(b))?.equals(b)).toBe(true);
    }
    expect(fromB64url('AQ==')).toBeUndefined(); // padding
    expect(fromB64url('AQ+/')).toBeUndefined(); // standard alphabet
    expect(fromB64url('AR')).toBeUndefined(); // stray low bits
    expect(fromB64url('AQE')).toBeDefined();
    expect(fromB64url('A')).toBeUndefined(); // a dangling character
  });

  test('readU64 refuses values beyond 2^53 - 1', () => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(2n ** 53n - 1n);
    expect(readU64(b, 0)).toBe(Number.MAX_SAFE_INTEGER);
    b.writeBigUInt64BE(2n ** 53n);
    expect(readU64(b, 0)).toBeUndefined();
  });
});
