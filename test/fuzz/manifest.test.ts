// Fuzz target: whole manifests, read the way verify, restore, ls and impact
// read them: keyless verify (verifyStored), then readManifest, checkSignature
// (with no --trust, the right signer, or another), openSet, readCatalog to
// the end, impactOf, and verifyContents (the tar stream against the
// catalog). Two kinds of input:
//
//   bytes    the stored manifest mutated like a volume (lib/mutate.ts), at
//            prefix fields, JSON punctuation, MAC, flag, signature, catalog
//            frames. Nothing may be accepted that differs from the original.
//   insider  someone holding the key and the signing identity edits the
//            header JSON (any value at any path), the catalog's plaintext
//            (edits, long runs without a newline), how the catalog is cut
//            into chunks and its codec byte, or the chunk size; then seals,
//            MACs and signs it all again. Authentication no longer stops
//            anything, so this reaches the consumers of the decoded values.
//
// Properties: finishes, bounded memory, fails only with an IntegrityError
// (or, with --trust, a KeyError for an unsigned or foreign-signed manifest);
// never a "wrong key" while the volumes open with the key; what the keyed
// reading accepts, keyless verify accepts too, unless an insider rewrote the
// volume hashes, which keyed verify leaves to keyless verify.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { compressChunk } from '../../src/backup/compress.js';
import { CATALOG_VOLUME_INDEX } from '../../src/backup/catalog-writer.js';
import { ChunkSealer } from '../../src/backup/encrypt.js';
import { nodeAead } from '../../src/crypto/aead.js';
import { hmacSha256, manifestMacKey } from '../../src/crypto/kdf.js';
import { signManifest } from '../../src/crypto/keys.js';
import { IntegrityError, KeyError } from '../../src/errors.js';
import type { CofferError } from '../../src/errors.js';
import { u16, u32 } from '../../src/format/bytes.js';
import { encodeCatalogEntry } from '../../src/format/catalog.js';
import { ChunkFlag } from '../../src/format/chunk.js';
import { encodeManifestAuth, MANIFEST_MAGIC, MANIFEST_PREFIX_BYTES, signatureMessage } from '../../src/format/manifest.js';
import { padPayload } from '../../src/format/padding.js';
import { FORMAT_VERSION } from '../../src/format/volume-header.js';
import { silentLogger } from '../../src/log.js';
import { noProgress } from '../../src/progress.js';
import { readCatalog } from '../../src/restore/catalog-reader.js';
import { verifyContents } from '../../src/restore/run.js';
import { checkSignature, readManifest } from '../../src/set/manifest-io.js';
import { impactOf } from '../../src/set/impact.js';
import { manifestOf, openSet } from '../../src/set/open-set.js';
import { verifyStored } from '../../src/restore/verify.js';
import { defineFuzzTarget, fromJson, toJson, typedOutcome } from './lib/harness.js';
import { applyEdits, editsArb } from './lib/mutate.js';
import type { Edit } from './lib/mutate.js';
import { CHUNK_SIZE, fixture, identity, keys, otherIdentity, piece, targetWith } from './lib/sets.js';
import type { FixtureSet, MapTarget } from './lib/sets.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface JsonEdit {
  /** Which path of the header JSON (modulo their number). */
  pick: number;
  /** The new value; undefined deletes it. */
  value?: Json;
}

interface Insider {
  json: JsonEdit[];
  catalogEdits: Edit[];
  /** Bytes of catalog plaintext per chunk (default: the chunk size). */
  piece?: number;
  /** A codec byte to seal every catalog chunk with, whatever it holds. */
  codec?: number;
  /** A chunk size for the whole set (tarBytes is adjusted so the volume list still adds up). */
  chunkSize?: number;
  signer: 'same' | 'none' | 'other';
}

interface ManifestCase {
  set: number;
  slice: number;
  trust: 'none' | 'signer' | 'other';
  kind: 'bytes' | 'insider';
  edits: Edit[];
  insider: Insider;
}

const NUMBERS = [0, -1, 1, 0.5, 2, 17, 4095, 4096, 4097, 2 ** 24, 2 ** 24 + 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 1e300];

const jsonValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<Json>(...NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, true, '', [], {}, 'volume-000001', '0'.repeat(64), 'AAAA') },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
);

/** Mostly absent: each knob alone should still reach the code behind the others. */
const rarely = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });

const insiderArb: fc.Arbitrary<Insider> = fc.record({
  json: fc.oneof(fc.constant<JsonEdit[]>([]), fc.array(fc.record({ pick: fc.nat(1000), value: fc.option(jsonValue, { nil: undefined, freq: 6 }) }, { requiredKeys: ['pick'] }), { minLength: 1, maxLength: 2 })),
  catalogEdits: fc.oneof(fc.constant<Edit[]>([]), editsArb({ maxEdits: 3, maxRepeat: 2 ** 24 })),
  piece: rarely(fc.integer({ min: 1, max: CHUNK_SIZE + 64 })),
  codec: rarely(fc.oneof(fc.constantFrom(0, 1, 2, 0x80, 0x81, 0xff), fc.nat(255))),
  chunkSize: rarely(fc.constantFrom(4096, 4097, 65536, 2 ** 24, 2 ** 24 + 1, 4095)),
  signer: fc.constantFrom('same' as const, 'same' as const, 'none' as const, 'other' as const),
});

const arbitrary: fc.Arbitrary<ManifestCase> = fc.record({
  set: fc.nat(1),
  slice: fc.constantFrom(0, 0, 1, 7, 100, 4099),
  trust: fc.constantFrom('none' as const, 'none' as const, 'signer' as const, 'other' as const),
  kind: fc.constantFrom('bytes' as const, 'insider' as const),
  edits: editsArb({ maxRandom: 2000 }),
  insider: insiderArb,
});

/** Every path of a JSON document (not the root). */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (at.length) out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function applyJson(doc: { [k: string]: Json }, e: JsonEdit): void {
  const all = paths(doc);
  const path = all[e.pick % all.length]!;
  let at = doc as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (e.value === undefined) {
    if (Array.isArray(at)) at.splice(last as number, 1);
    else delete at[last];
  } else at[last] = e.value;
}

function catalogLandmarks(text: Buffer): number[] {
  const marks = [0, text.length];
  for (let i = 0; i < text.length; i++) if (text[i] === 0x0a || text[i] === 0x3a || text[i] === 0x2c) marks.push(i + 1);
  return marks;
}

/** The manifest an insider with the data key and signing identity would write. */
async function insiderManifest(f: FixtureSet, original: Buffer, c: Insider): Promise<Buffer> {
  const headerLength = MANIFEST_PREFIX_BYTES + original.readUInt32BE(10);
  const doc = JSON.parse(original.subarray(MANIFEST_PREFIX_BYTES, headerLength).toString('utf8')) as { [k: string]: Json };
  const chunkSize = c.chunkSize ?? CHUNK_SIZE;
  if (c.chunkSize !== undefined) {
    doc.chunkSize = chunkSize;
    const dataChunks = (doc.volumes as { dataChunks: number }[]).reduce((n, v) => n + v.dataChunks, 0);
    doc.tarBytes = dataChunks * chunkSize;
  }
  // The catalog, edited as plaintext and sealed again, chunk by chunk.
  const text = Buffer.from(f.catalog.map(encodeCatalogEntry).join(''), 'utf8');
  const plain = applyEdits({ bytes: text, marks: catalogLandmarks(text) }, c.catalogEdits);
  const sealer = new ChunkSealer(nodeAead, f.dataKey, f.setId);
  const frames: Buffer[] = [];
  // At most 8,192 chunks, and padding only up to 64 KiB chunks: the generator's own cost stays small.
  const step = Math.max(c.piece ?? chunkSize, Math.ceil(plain.length / 8192));
  let index = 0;
  for (let at = 0; at < plain.length; at += step) {
    const packed = await compressChunk(plain.subarray(at, at + step), 'deflate');
    let payload: { codec: number; bytes: Buffer } = packed;
    if (f.pad && chunkSize <= 65536 && packed.bytes.length <= chunkSize) payload = padPayload(packed, chunkSize, chunkSize);
    frames.push(sealer.seal(CATALOG_VOLUME_INDEX, index++, ChunkFlag.data, c.codec ?? payload.codec, payload.bytes));
  }
  frames.push(sealer.seal(CATALOG_VOLUME_INDEX, index, ChunkFlag.endOfSet, 0, Buffer.alloc(0)));
  const catalog = Buffer.concat(frames);
  doc.catalog = { size: catalog.length, sha256: createHash('sha256').update(catalog).digest('hex'), dataChunks: index };
  const signerId = c.signer === 'other' ? otherIdentity : identity;
  doc.signer = c.signer === 'none' ? null : signerId.public.ed25519.toString('base64url');
  for (const e of c.json) applyJson(doc, e);
  const body = Buffer.from(JSON.stringify(doc), 'utf8');
  const header = Buffer.concat([MANIFEST_MAGIC, u16(FORMAT_VERSION), u32(body.length), body]);
  const mac = hmacSha256(manifestMacKey(f.dataKey, f.setId), header);
  const signature = doc.signer === null ? null : signManifest(signerId, signatureMessage(header));
  return Buffer.concat([header, encodeManifestAuth(mac, signature), catalog]);
}

interface Prepared {
  c: ManifestCase;
  f: FixtureSet;
  target: MapTarget;
  changed: boolean;
}

async function prepare(c: ManifestCase): Promise<Prepared> {
  const fx = await fixture();
  const f = fx.sets[c.set % 2]!;
  const original = f.objects.get(f.manifest)!;
  const bytes = c.kind === 'bytes' ? applyEdits(piece(original, 'manifest'), c.edits) : await insiderManifest(f, original, c.insider);
  return { c, f, target: targetWith(f.objects, { [f.manifest]: bytes }, c.slice), changed: !bytes.equals(original) };
}

async function run({ c, f, target, changed }: Prepared): Promise<string> {
  const trust = c.trust === 'signer' ? identity.public.ed25519 : c.trust === 'other' ? otherIdentity.public.ed25519 : undefined;
  const allowed = (e: CofferError) => e instanceof IntegrityError || (e instanceof KeyError && trust !== undefined && (e.code === 'untrusted-signer' || e.code === 'manifest-unsigned'));
  const expectedFailure = (outcome: string) => c.trust === 'other' && outcome === 'KeyError:untrusted-signer';
  // Keyless verify first, on its own: it stops at the first damaged part, which must not hide the keyed path.
  let keyless = 'ok';
  try {
    await verifyStored(target, f.set, trust, silentLogger, noProgress);
  } catch (err) {
    keyless = typedOutcome(err, allowed);
    if (!changed && !expectedFailure(keyless)) throw new Error(`keyless verify of an unchanged manifest failed: ${keyless}`, { cause: err });
  }
  let volumeHashes: string[];
  try {
    checkSignature(await readManifest(target, f.set), trust);
    const s = await openSet(target, f.set, keys, trust);
    for await (const _ of readCatalog(s)) void _;
    await impactOf(s, [1, manifestOf(s).volumes.length]);
    await verifyContents(s, silentLogger, noProgress, 0);
    volumeHashes = manifestOf(s).volumes.map((v) => v.sha256);
  } catch (err) {
    const outcome = typedOutcome(err, allowed);
    if (!changed && !expectedFailure(outcome)) throw new Error(`an unchanged manifest failed: ${outcome}`, { cause: err });
    return `${c.kind}: ${outcome}`;
  }
  // Keyed verify leaves the volume hashes to keyless verify (DESIGN.md, "What keyed verify checks"): that, and only that, may set them apart.
  const rehashed = c.kind === 'insider' && keyless === 'IntegrityError:volume-hash-mismatch' && !(await originalVolumeHashes(f)).every((h, i) => h === volumeHashes[i]);
  if (keyless !== 'ok' && !rehashed) throw new Error(`keyless verify refused (${keyless}) what the keyed reading accepted`);
  // Who really signed it: the fixture's identity, or whom the insider chose.
  const signedBy = c.kind === 'bytes' || c.insider.signer === 'same' ? identity : c.insider.signer === 'other' ? otherIdentity : undefined;
  if (trust && !signedBy?.public.ed25519.equals(trust)) throw new Error('with --trust, a manifest not signed by the trusted key was accepted');
  if (c.kind === 'bytes' && changed) throw new Error('a changed manifest was accepted');
  return `${c.kind}: ok${changed ? '' : ' (unchanged)'}${rehashed ? ' (volume hashes rewritten: keyless verify refuses)' : ''}`;
}

async function originalVolumeHashes(f: FixtureSet): Promise<string[]> {
  return (await readManifest(targetWith(f.objects, {}), f.set)).header.volumes.map((v) => v.sha256);
}

defineFuzzTarget<ManifestCase, Prepared>({
  name: 'manifest',
  file: 'test/fuzz/manifest.test.ts',
  arbitrary,
  prepare,
  run,
  boundedRuns: 150,
  seedExt: 'json',
  toSeed: toJson,
  fromSeed: (b) => fromJson<ManifestCase>(b),
  setup: async () => {
    await fixture();
  },
});
