// Property tests (fast-check, fixed seed, bounded runs): random and mutated
// inputs to every decoder either decode or fail with a typed CofferError
// (IntegrityError for the format codecs), never with another exception.
// Parsers that report failure by returning undefined must never throw.
//
// Seeds and inputs that once found bugs are kept as explicit examples
// (STYLE.md point 17): see REGRESSIONS below.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodePublicKey, encodePublicKey, parseIdentity } from '../../src/crypto/identity-file.js';
import { identityFromSeed } from '../../src/crypto/keys.js';
import { IntegrityError } from '../../src/errors.js';
import { fromB64url } from '../../src/format/bytes.js';
import { decodeCatalogEntry, encodeCatalogEntry } from '../../src/format/catalog.js';
import type { CatalogEntry } from '../../src/format/catalog.js';
import { decodeManifestHeader, encodeManifestHeaderJson, MANIFEST_PREFIX_BYTES, manifestHeaderLength } from '../../src/format/manifest.js';
import type { ManifestHeader } from '../../src/format/manifest.js';
import { newSetId, parseSetIdText, setIdText } from '../../src/format/set-id.js';
import { decodeStanza, decodeVolumeHeader, encodeStanza, encodeVolumeHeader, volumeHeaderLength } from '../../src/format/volume-header.js';
import type { Stanza } from '../../src/format/volume-header.js';

const SEED = 0xc0ffe4;
const RUNS = { seed: SEED, numRuns: 400 };

/** Calls fn; any exception must be an IntegrityError. */
function onlyIntegrityError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw new Error(`decoder threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
    expect(typeof e.code).toBe('string');
  }
}

/** Calls fn; it must not throw at all. */
function neverThrows(fn: () => unknown): void {
  fn();
}

const stanzas: Stanza[] = [
  { type: 'x25519', ephemeral: randomBytes(32), wrapped: randomBytes(48) },
  { type: 'scrypt', params: { logN: 18, r: 8, p: 1 }, salt: randomBytes(16), wrapped: randomBytes(48) },
  { type: 'unknown', code: 9, body: randomBytes(3) },
];
const volumeHeader = Buffer.concat([
  encodeVolumeHeader({ setId: newSetId(), volumeIndex: 2, firstChunk: 100, chunkSize: 65536, stanzas }),
  randomBytes(32),
]);
const manifest: ManifestHeader = {
  format: 1,
  tool: 'coffer test',
  set: setIdText(newSetId()),
  created: new Date(0).toISOString(),
  label: 'l',
  chunkSize: 65536,
  stanzas,
  volumes: [
    { index: 1, name: 'volume-000001', size: 10, sha256: 'a'.repeat(64), firstChunk: 0, dataChunks: 1 },
    { index: 2, name: 'volume-000002', size: 20, sha256: 'b'.repeat(64), firstChunk: 2, dataChunks: 1 },
  ],
  tarBytes: 100000,
  catalog: { size: 40, sha256: 'c'.repeat(64), dataChunks: 1 },
  signer: randomBytes(32),
};
const manifestBytes = encodeManifestHeaderJson(manifest);
const entry: CatalogEntry = {
  path: 'a/b',
  type: 'file',
  size: 3,
  mode: 0o644,
  mtime: 1.5,
  uid: 0,
  gid: 0,
  sha256: 'd'.repeat(64),
  uname: 'root',
  link: 'x',
  devmajor: 1,
  devminor: 2,
  offset: 0,
  end: 515,
};

/** Byte-level mutations of a valid encoding: overwrite, cut, insert. */
function mutated(base: Buffer): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(base.length - 1), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(base.length - 1), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(base.length) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(base.length), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let b = Buffer.from(base);
    for (const e of edits) {
      if (e.kind === 'set' && e.at < b.length) b[e.at] = e.byte;
      else if (e.kind === 'flip' && e.at < b.length) b[e.at]! ^= 1 << e.bit;
      else if (e.kind === 'cut') b = b.subarray(0, Math.min(e.at, b.length));
      else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, e.at), e.bytes, b.subarray(e.at)]);
    }
    return b;
  });
}

/** Replaces the value at a random path of a JSON document with any JSON value. */
function jsonMutated(base: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(base, []);
  return fc.tuple(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.oneof(fc.jsonValue(), fc.constant(undefined))).map(([path, value]) => {
    const copy = structuredClone(base) as Record<string | number, unknown>;
    let at = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (value === undefined) delete at[last];
    else at[last] = value;
    return copy;
  });
}

function manifestFromJson(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const prefix = Buffer.from(manifestBytes.subarray(0, MANIFEST_PREFIX_BYTES));
  prefix.writeUInt32BE(body.length, 10);
  return Buffer.concat([prefix, body]);
}

/** Inputs that once made a decoder throw an untyped error; kept so they stay fixed. */
const REGRESSIONS = {
  // parseSetIdText wrote a negative time as a u64 (RangeError) for dates before 1970.
  manifestSets: ['19691231T235959.999Z-0123456789abcdef', '00000101T000000.000Z-0123456789abcdef'],
  // setIdText called toISOString on a time past 8.64e15 ms (RangeError: Invalid time value).
  setIdPrefixes: ['001eb208c2dc0001', '001fffffffffffff'],
};

describe('decoders only ever throw typed errors', () => {
  test('volume header: random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
      const b = Buffer.from(a);
      onlyIntegrityError(() => volumeHeaderLength(b));
      onlyIntegrityError(() => decodeVolumeHeader(b, 'volume-000001'));
    }), RUNS);
  });

  test('volume header: mutations of a valid one', () => {
    fc.assert(fc.property(mutated(volumeHeader), (b) => {
      onlyIntegrityError(() => volumeHeaderLength(b));
      onlyIntegrityError(() => decodeVolumeHeader(b));
    }), { ...RUNS, numRuns: 1000 });
  });

  test('volume header: random bytes behind a valid prefix', () => {
    fc.assert(fc.property(fc.integer({ min: 80, max: 400 }), fc.uint8Array({ maxLength: 400 }), (length, rest) => {
      const b = Buffer.concat([volumeHeader.subarray(0, 14), Buffer.from(rest)]);
      b.writeUInt32BE(length, 10);
      onlyIntegrityError(() => decodeVolumeHeader(b));
    }), RUNS);
  });

  test('stanza: random and mutated bytes, any offset', () => {
    const valid = Buffer.concat(stanzas.map(encodeStanza));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), mutated(valid)), fc.nat(250), (b, at) => {
      neverThrows(() => decodeStanza(b, Math.min(at, b.length)));
    }), RUNS);
  });

  test('manifest header: random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (a) => {
      const b = Buffer.from(a);
      onlyIntegrityError(() => manifestHeaderLength(b));
      onlyIntegrityError(() => decodeManifestHeader(b));
    }), RUNS);
  });

  test('manifest header: mutated bytes', () => {
    fc.assert(fc.property(mutated(manifestBytes), (b) => {
      onlyIntegrityError(() => manifestHeaderLength(b));
      onlyIntegrityError(() => decodeManifestHeader(b));
    }), { ...RUNS, numRuns: 1000 });
  });

  test('manifest header: any JSON, and valid JSON with one value replaced', () => {
    const json = JSON.parse(manifestBytes.subarray(MANIFEST_PREFIX_BYTES).toString('utf8')) as unknown;
    fc.assert(fc.property(fc.oneof(fc.json(), jsonMutated(json).map((v) => JSON.stringify(v) ?? '')), (text) => {
      onlyIntegrityError(() => decodeManifestHeader(manifestFromJson(text)));
    }), { ...RUNS, numRuns: 1000 });
  });

  test('manifest header: set ids that once threw', () => {
    const json = JSON.parse(manifestBytes.subarray(MANIFEST_PREFIX_BYTES).toString('utf8')) as Record<string, unknown>;
    for (const set of REGRESSIONS.manifestSets) {
      expect(() => decodeManifestHeader(manifestFromJson(JSON.stringify({ ...json, set })))).toThrow(IntegrityError);
    }
  });

  test('catalog entry: random text, any JSON, valid entries with one value replaced', () => {
    const valid = JSON.parse(encodeCatalogEntry(entry)) as unknown;
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json(), jsonMutated(valid).map((v) => JSON.stringify(v) ?? '')), (line) => {
      onlyIntegrityError(() => decodeCatalogEntry(line, 1));
    }), { ...RUNS, numRuns: 1000 });
  });

  test('catalog entry: whatever decodes has the declared types', () => {
    const valid = JSON.parse(encodeCatalogEntry(entry)) as unknown;
    fc.assert(fc.property(jsonMutated(valid), (v) => {
      let e: CatalogEntry;
      try {
        e = decodeCatalogEntry(JSON.stringify(v), 1);
      } catch {
        return;
      }
      for (const k of ['size', 'mode', 'uid', 'gid', 'offset', 'end'] as const) expect(Number.isSafeInteger(e[k]) && e[k] >= 0).toBe(true);
      for (const k of ['devmajor', 'devminor'] as const) if (e[k] !== undefined) expect(Number.isSafeInteger(e[k]) && e[k]! >= 0).toBe(true);
      for (const k of ['uname', 'gname', 'link'] as const) if (e[k] !== undefined) expect(typeof e[k]).toBe('string');
      expect(typeof e.path).toBe('string');
      expect(e.end).toBeGreaterThanOrEqual(e.offset);
    }), RUNS);
  });

  test('set ids: random text and pattern-shaped text never throw', () => {
    const digits = (n: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: n, maxLength: n }).map((a) => a.join(''));
    const shaped = fc
      .tuple(digits(8), digits(6), digits(3), fc.uint8Array({ minLength: 8, maxLength: 8 }))
      .map(([d, t, ms, r]) => `${d}T${t}.${ms}Z-${Buffer.from(r).toString('hex')}`);
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 50 }), shaped), (text) => {
      const id = parseSetIdText(text);
      if (id) expect(setIdText(id)).toBe(text);
    }), { ...RUNS, numRuns: 2000 });
  });

  test('set ids: naming any 16 bytes never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => {
      expect(typeof setIdText(a)).toBe('string');
    }), RUNS);
    for (const hex of REGRESSIONS.setIdPrefixes) expect(typeof setIdText(Buffer.from(hex + '00'.repeat(8), 'hex'))).toBe('string');
  });

  test('key files: random and mutated text never throws', () => {
    const id = identityFromSeed(randomBytes(32));
    const pub = encodePublicKey(id.public);
    const plain = `COFFER-IDENTITY-1 ${id.seed.toString('base64url')}`;
    const textMutation = (base: string) => mutated(Buffer.from(base)).map((b) => b.toString('latin1'));
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), textMutation(pub), textMutation(plain)), (text) => {
      neverThrows(() => decodePublicKey(text));
      neverThrows(() => parseIdentity(text));
      neverThrows(() => fromB64url(text));
    }), { ...RUNS, numRuns: 1000 });
  });
});
