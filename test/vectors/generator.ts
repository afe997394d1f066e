/**
 * Makes every test vector from fixed randomness, with coffer's own encoders:
 * wrapForRecipient / wrapForPassphrase (with a fixed ephemeral seed and salt),
 * encodeVolumeHeader, the header MAC, ChunkSealer, and VolumeWriter for the
 * well-formed volumes, so the size rule and chunk numbering are the real
 * ones. Failure cases either edit a well-formed volume (flip, cut, splice)
 * or seal what an honest writer never would, with the same sealer.
 *
 * Nothing here draws random bytes: every key, seed, salt and payload byte is
 * a function of a label (`fixed`). Compression uses a tiny fixed-Huffman
 * encoder (lib/deflate.ts), not zlib, whose output may change between builds.
 *
 * generate.test.ts writes the files (COFFER_WRITE_VECTORS=1) or checks the
 * committed ones against this; vectors.test.ts checks them against coffer's
 * decoder. The file format is in README.md.
 */
import { createHash } from 'node:crypto';
import { nodeAead } from '../../src/crypto/aead.js';
import { headerMacKey, hmacSha256 } from '../../src/crypto/kdf.js';
import type { ScryptParams } from '../../src/crypto/kdf.js';
import { identityFromSeed, wrapForPassphrase, wrapForRecipient } from '../../src/crypto/keys.js';
import { ChunkSealer, sealFrame } from '../../src/backup/encrypt.js';
import type { CompressedChunk } from '../../src/backup/compress.js';
import { headerBytes, minimumVolumeSize, VolumeWriter } from '../../src/backup/volume-writer.js';
import { toB64url } from '../../src/format/bytes.js';
import { padPayload, PADDED } from '../../src/format/padding.js';
import type { Payload } from '../../src/format/padding.js';
import { ChunkFlag, Codec, END_FRAME_BYTES, FRAME_PREFIX_BYTES, maxFrameBytes, maxSealedBytes, TAG_BYTES } from '../../src/format/chunk.js';
import { parseSetIdText } from '../../src/format/set-id.js';
import { encodeVolumeHeader, volumeHeaderLength } from '../../src/format/volume-header.js';
import type { Stanza, VolumeHeader } from '../../src/format/volume-header.js';
import { rechunk } from '../../src/stream/rechunk.js';
import { deflateRawFixed } from './lib/deflate.js';
import { ustar } from './lib/ustar.js';
import type { TarEntry } from './lib/ustar.js';
import { formatVector } from './lib/vector-file.js';
import type { Vector } from './lib/vector-file.js';
import { MemoryTarget } from '../helpers/memory-target.js';

/** n bytes (n <= 32) determined by a label: SHA-256("coffer vectors: " + label). */
export function fixed(label: string, n = 32): Buffer {
  return createHash('sha256').update(`coffer vectors: ${label}`).digest().subarray(0, n);
}

/** Deterministic bytes of any length: SHA-256 in counter mode over a label. */
function stream(label: string, n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < n; i++) parts.push(createHash('sha256').update(`coffer vectors: ${label} ${i}`).digest());
  return Buffer.concat(parts).subarray(0, n);
}

export const SET = '20261123T091500.123Z-9f3a2c1b7e4d5a60';
export const OTHER_SET = '20261124T021500.000Z-0123456789abcdef';
const SET_ID = parseSetIdText(SET)!;
const OTHER_SET_ID = parseSetIdText(OTHER_SET)!;
const DATA_KEY = fixed('data key');
const CHUNK = 4096;
const PASSPHRASE = 'coffer test vector passphrase';
const LOW_SCRYPT: ScryptParams = { logN: 10, r: 8, p: 1 };

const SEED_A = fixed('identity A');
const SEED_B = fixed('identity B');
const ID_A = identityFromSeed(SEED_A);
const ID_B = identityFromSeed(SEED_B);
const LINE_A = `COFFER-IDENTITY-1 ${toB64url(SEED_A)}`;
const LINE_B = `COFFER-IDENTITY-1 ${toB64url(SEED_B)}`;

// --- payloads: tar streams as coffer writes them ----------------------------

const OWNER = { mode: 0o644, uid: 1000, gid: 1000, uname: 'backup', gname: 'backup' };
const MTIME = Date.UTC(2026, 10, 23, 9, 0, 0);

/** 3,584 bytes: one short chunk. The file has a sub-second mtime, so it gets a PAX header. */
export const SMALL_ENTRIES: TarEntry[] = [
  { path: 'srv/vectors', type: 'directory', ...OWNER, mode: 0o755, mtimeMs: MTIME },
  { path: 'srv/vectors/hello.txt', type: 'file', ...OWNER, mtimeMs: MTIME + 250, data: Buffer.from('hello, coffer\n') },
];

/** 10,240 bytes: chunks of 4,096, 4,096 and 2,048. Text, then bytes that do not compress. */
const NOTES = Buffer.from(Array.from({ length: 75 }, (_, i) => `line ${String(i + 1).padStart(3, '0')}: keep this tape offsite\n`).join('').slice(0, 3000));
export const MULTI_ENTRIES: TarEntry[] = [
  { path: 'srv/vectors/notes.txt', type: 'file', ...OWNER, mtimeMs: MTIME, data: NOTES },
  { path: 'srv/vectors/random.bin', type: 'file', ...OWNER, mtimeMs: MTIME, data: stream('random.bin', 5000) },
];

const SMALL_TAR = ustar(SMALL_ENTRIES);
const MULTI_TAR = ustar(MULTI_ENTRIES);

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** compressChunk's rule with a deterministic deflate: codec 1 only when smaller. */
function compress(data: Buffer, choice: 'deflate' | 'none' = 'deflate'): CompressedChunk {
  const packed = deflateRawFixed(data);
  return choice === 'deflate' && packed.length < data.length
    ? { codec: Codec.deflate, bytes: packed }
    : { codec: Codec.none, bytes: data };
}

async function chunksOf(tar: Buffer, choice: 'deflate' | 'none' = 'deflate'): Promise<CompressedChunk[]> {
  const out: CompressedChunk[] = [];
  for await (const c of rechunk((async function* () { yield tar; })(), CHUNK)) out.push(compress(c, choice));
  return out;
}

// --- stanzas ----------------------------------------------------------------

const recipient = (id: typeof ID_A, label: string, setId = SET_ID): Stanza => wrapForRecipient(DATA_KEY, setId, id.public.x25519, fixed(`ephemeral ${label}`));
const passphrase = (params = LOW_SCRYPT, label = 'scrypt salt'): Promise<Stanza> =>
  wrapForPassphrase(DATA_KEY, SET_ID, Buffer.from(PASSPHRASE, 'utf8'), params, fixed(label, 16));

// --- volumes ----------------------------------------------------------------

/** Volumes as VolumeWriter writes them for these chunks. */
async function writeVolumes(stanzas: Stanza[], chunks: Payload[], volumeSize = 1 << 30): Promise<Buffer[]> {
  const target = new MemoryTarget();
  const writer = new VolumeWriter({
    target,
    setName: SET,
    setId: SET_ID,
    chunkSize: CHUNK,
    stanzas,
    volumeSize,
    sealer: new ChunkSealer(nodeAead, DATA_KEY, SET_ID),
    headerMacKey: headerMacKey(DATA_KEY, SET_ID),
  });
  for (const c of chunks) await writer.add(async (params) => sealFrame(nodeAead, params, c.codec, c.bytes));
  const records = await writer.finish();
  return records.map((r) => target.objects.get(`${SET}/${r.name}`)!);
}

/** A header with a correct MAC, whatever its fields say. */
function header(h: Partial<VolumeHeader> & { stanzas: Stanza[] }): Buffer {
  const body = encodeVolumeHeader({ setId: SET_ID, volumeIndex: 1, firstChunk: 0, chunkSize: CHUNK, ...h });
  return Buffer.concat([body, hmacSha256(headerMacKey(DATA_KEY, SET_ID), body)]);
}

interface Frame {
  flag: ChunkFlag;
  codec: number;
  data: Buffer;
  /** Seal under this volume's key instead of the volume's own. */
  keyVolume?: number;
}

/** A volume sealed frame by frame: what an honest writer would never produce, sealed correctly. */
function assemble(stanzas: Stanza[], frames: Frame[], volumeIndex = 1, firstChunk = 0): Buffer {
  const out = [header({ stanzas, volumeIndex, firstChunk })];
  frames.forEach((f, i) => {
    const sealer = new ChunkSealer(nodeAead, DATA_KEY, SET_ID);
    out.push(sealer.seal(f.keyVolume ?? volumeIndex, firstChunk + i, f.flag, f.codec as Codec, f.data));
  });
  return Buffer.concat(out);
}

/** Splits a volume into its header and its frames (prefix included). */
function split(volume: Buffer): { header: Buffer; frames: Buffer[] } {
  const length = volumeHeaderLength(volume);
  const frames: Buffer[] = [];
  for (let at = length; at < volume.length; ) {
    const end = at + FRAME_PREFIX_BYTES + volume.readUInt32BE(at);
    frames.push(volume.subarray(at, end));
    at = end;
  }
  return { header: volume.subarray(0, length), frames };
}

function flip(b: Buffer, at: number, mask = 0x01): Buffer {
  const c = Buffer.from(b);
  c[at]! ^= mask;
  return c;
}

function withU32(b: Buffer, at: number, value: number): Buffer {
  const c = Buffer.from(b);
  c.writeUInt32BE(value, at);
  return c;
}

// --- the vectors ------------------------------------------------------------

type Spec = Omit<Vector, 'set' | 'volume' | 'firstChunk' | 'last' | 'identities' | 'payload'> &
  Partial<Pick<Vector, 'set' | 'volume' | 'firstChunk' | 'last' | 'identities'>> & { payload?: Buffer };

export async function generateVectors(): Promise<Map<string, Buffer>> {
  const a = recipient(ID_A, 'A');
  const pass = await passphrase();
  const small = await chunksOf(SMALL_TAR);
  const recipientVolume = (await writeVolumes([a], small))[0]!;
  const passVolume = (await writeVolumes([pass], small))[0]!;
  const multiChunks = await chunksOf(MULTI_TAR);
  const multiVolume = (await writeVolumes([a], multiChunks))[0]!;
  const multi = split(multiVolume);
  // The comments below promise these codecs; fail loudly if the payloads stop producing them.
  if (small.map((c) => c.codec).join() !== '1' || multiChunks.map((c) => c.codec).join() !== '1,0,1') throw new Error('payload codecs changed');
  const multiPlain = [MULTI_TAR.subarray(0, CHUNK), MULTI_TAR.subarray(CHUNK, 2 * CHUNK), MULTI_TAR.subarray(2 * CHUNK)];

  // Two volumes: the smallest size that lets volume 1 take a second chunk (room for a largest frame after the first).
  const frameBytes = (c: CompressedChunk) => FRAME_PREFIX_BYTES + 1 + c.bytes.length + TAG_BYTES;
  const volumeSize = headerBytes([a], SET_ID, CHUNK) + frameBytes(multiChunks[0]!) + maxFrameBytes(CHUNK) + END_FRAME_BYTES;
  if (volumeSize < minimumVolumeSize([a], SET_ID, CHUNK)) throw new Error('volume size below the minimum');
  const [vol1, vol2, extra] = await writeVolumes([a], multiChunks, volumeSize);
  if (!vol1 || !vol2 || extra || split(vol1).frames.length !== 3) throw new Error('expected two volumes, the first with two data chunks');

  const lowOrderStanza: Stanza = { type: 'x25519', ephemeral: Buffer.alloc(32), wrapped: Buffer.concat([fixed('low order wrapped'), fixed('low order tag', 16)]) };
  const smallFrame = (c: CompressedChunk): Frame => ({ flag: ChunkFlag.data, codec: c.codec, data: c.bytes });
  const endOfSet: Frame = { flag: ChunkFlag.endOfSet, codec: Codec.none, data: Buffer.alloc(0) };

  const specs: Record<string, Spec> = {
    // --- success
    'recipient': {
      expect: 'success', payload: SMALL_TAR,
      comment: 'one X25519 recipient; one short chunk (3584 bytes, codec 1); end-of-set chunk 1',
      volumeBytes: recipientVolume,
    },
    'passphrase': {
      expect: 'success', payload: SMALL_TAR, identities: [], passphrase: PASSPHRASE,
      comment: 'one scrypt stanza, logN 10, r 8, p 1',
      volumeBytes: passVolume,
    },
    'multi-chunk': {
      expect: 'success', payload: MULTI_TAR,
      comment: 'three data chunks: 4096 bytes codec 1, 4096 bytes codec 0, 2048 bytes codec 1; end-of-set chunk 3',
      volumeBytes: multiVolume,
    },
    'stored': {
      expect: 'success', payload: MULTI_TAR,
      comment: 'compression off: every data chunk is codec 0 (stored)',
      volumeBytes: (await writeVolumes([a], await chunksOf(MULTI_TAR, 'none')))[0]!,
    },
    'two-recipients': {
      expect: 'success', payload: SMALL_TAR,
      comment: 'stanzas for identity B, then A; the reader tries each',
      volumeBytes: (await writeVolumes([recipient(ID_B, 'B'), a], small))[0]!,
    },
    'recipient-and-passphrase': {
      expect: 'success', payload: SMALL_TAR, identities: [], passphrase: PASSPHRASE,
      comment: 'an X25519 stanza and a scrypt stanza; opened with the passphrase',
      volumeBytes: (await writeVolumes([a, pass], small))[0]!,
    },
    'unknown-stanza': {
      expect: 'success', payload: SMALL_TAR,
      comment: 'a stanza of unknown type 0x42 comes first; readers skip it',
      volumeBytes: (await writeVolumes([{ type: 'unknown', code: 0x42, body: Buffer.from('future') }, a], small))[0]!,
    },
    'low-order-stanza-skipped': {
      expect: 'success', payload: SMALL_TAR,
      comment: 'an X25519 stanza whose ephemeral key is all zeros (low order) comes first; readers skip it and open the next',
      volumeBytes: (await writeVolumes([lowOrderStanza, a], small))[0]!,
    },
    'multi-volume-1': {
      expect: 'success', payload: Buffer.concat(multiPlain.slice(0, 2)), last: 'no',
      comment: `volume 1 of 2, --volume-size ${volumeSize} (the smallest that takes two chunks): tar chunks 0-1 at global 0-1, end-of-volume chunk 2`,
      volumeBytes: vol1,
    },
    'multi-volume-2': {
      expect: 'success', payload: multiPlain[2], volume: 2, firstChunk: 3,
      comment: 'volume 2 of 2: tar chunk 2 at global index 3 (= 2 + (2 - 1)), end-of-set chunk 4; volume key for index 2',
      volumeBytes: vol2,
    },
    'padded': {
      expect: 'success', payload: MULTI_TAR,
      comment: '--pad: every data chunk is stored (codec 0) and padded (codec 0x80), 4 + 4096 bytes after the codec byte: the largest sealed body allowed',
      volumeBytes: (await writeVolumes([a], (await chunksOf(MULTI_TAR, 'none')).map((c) => padPayload(c, CHUNK, CHUNK))))[0]!,
    },
    'padded-steps': {
      expect: 'success', payload: MULTI_TAR,
      comment: 'the default: each chunk (codec 1, 0, 1) padded up to a multiple of 256 bytes (1/16 of the chunk size); codec bytes 0x81, 0x80, 0x81',
      volumeBytes: (await writeVolumes([a], multiChunks.map((c) => padPayload(c, CHUNK, CHUNK / 16))))[0]!,
    },
    'empty-set': {
      expect: 'success', payload: Buffer.alloc(0),
      comment: 'a set with an empty tar stream: no data chunks, only the end-of-set chunk 0',
      volumeBytes: (await writeVolumes([a], []))[0]!,
    },

    // --- key failures
    'wrong-identity': {
      expect: 'key failure', code: 'wrong-key', identities: [LINE_B],
      comment: 'made for identity A, opened with identity B',
      volumeBytes: recipientVolume,
    },
    'wrong-passphrase': {
      expect: 'key failure', code: 'wrong-key', identities: [], passphrase: 'not the passphrase',
      comment: 'the passphrase vector opened with another passphrase',
      volumeBytes: passVolume,
    },
    'no-stanzas': {
      expect: 'key failure', code: 'wrong-key',
      comment: 'a well-formed header (valid MAC) with no key stanzas',
      volumeBytes: assemble([], [...small.map(smallFrame), endOfSet]),
    },
    'stanza-flipped': {
      expect: 'key failure', code: 'wrong-key',
      comment: 'one bit of the wrapped data key flipped: without the data key the header MAC cannot be checked, so this is a key failure',
      volumeBytes: flip(recipientVolume, 48 + 3 + 32 + 5),
    },
    'stanza-from-other-set': {
      expect: 'key failure', code: 'wrong-key',
      comment: 'the X25519 stanza was wrapped with another set id as additional data',
      volumeBytes: (await writeVolumes([recipient(ID_A, 'A', OTHER_SET_ID)], small))[0]!,
    },
    'x25519-low-order': {
      expect: 'key failure', code: 'wrong-key',
      comment: 'the only X25519 stanza has an all-zero (low-order) ephemeral key',
      volumeBytes: (await writeVolumes([lowOrderStanza], small))[0]!,
    },
    'scrypt-logn-too-low': {
      expect: 'key failure', code: 'wrong-key', identities: [], passphrase: PASSPHRASE,
      comment: 'right passphrase, but logN 9 is below the minimum of 10: readers must not use the stanza',
      volumeBytes: (await writeVolumes([await passphrase({ logN: 9, r: 8, p: 1 }, 'scrypt salt 9')], small))[0]!,
    },
    'scrypt-logn-too-high': {
      expect: 'key failure', code: 'wrong-key', identities: [], passphrase: PASSPHRASE,
      comment: 'the stanza claims logN 23, above the maximum of 22: readers must refuse it without running scrypt',
      volumeBytes: (await writeVolumes([{ ...(pass as Extract<Stanza, { type: 'scrypt' }>), params: { logN: 23, r: 8, p: 1 } }], small))[0]!,
    },

    // --- header failures
    'empty-file': {
      expect: 'header failure', code: 'bad-volume-header',
      volumeBytes: Buffer.alloc(0),
    },
    'bad-magic': {
      expect: 'header failure', code: 'bad-volume-header',
      comment: 'magic "Coffer\\0V"',
      volumeBytes: flip(recipientVolume, 0, 0x20),
    },
    'unsupported-version': {
      expect: 'header failure', code: 'unsupported-version',
      comment: 'format version 2',
      volumeBytes: flip(recipientVolume, 9, 0x03),
    },
    'header-mac-flipped': {
      expect: 'header failure', code: 'volume-header-tampered',
      comment: 'last byte of the header MAC flipped',
      volumeBytes: flip(recipientVolume, split(recipientVolume).header.length - 1),
    },
    'header-field-edited': {
      expect: 'header failure', code: 'volume-header-tampered',
      comment: 'chunk size edited from 4096 to 8192 without a new MAC',
      volumeBytes: withU32(recipientVolume, 42, 8192),
    },
    'header-length-mismatch': {
      expect: 'header failure', code: 'bad-volume-header',
      comment: 'header length field one more than the header: the stanzas no longer end where the MAC begins',
      volumeBytes: withU32(recipientVolume, 10, split(recipientVolume).header.length + 1),
    },
    'truncated-header': {
      expect: 'header failure', code: 'bad-volume-header',
      comment: 'the file ends inside the header',
      volumeBytes: recipientVolume.subarray(0, 100),
    },
    'x25519-stanza-bad-length': {
      expect: 'header failure', code: 'bad-volume-header',
      comment: 'a type 1 (X25519) stanza with a 79-byte body; the header MAC is valid',
      volumeBytes: Buffer.concat([header({ stanzas: [{ type: 'unknown', code: 1, body: stream('short stanza', 79) }, a] }), ...split(recipientVolume).frames]),
    },
    'chunk-size-too-small': {
      expect: 'header failure', code: 'bad-volume-header',
      comment: 'chunk size 1024, below the minimum of 4096; the header MAC is valid',
      volumeBytes: Buffer.concat([header({ stanzas: [a], chunkSize: 1024 }), ...split(recipientVolume).frames]),
    },
    'volume-index-zero': {
      expect: 'header failure', code: 'bad-volume-header',
      comment: 'volume index 0 is the catalog\'s and never a volume\'s; the header MAC is valid',
      volumeBytes: Buffer.concat([header({ stanzas: [a], volumeIndex: 0 }), ...split(recipientVolume).frames]),
    },
    'foreign-volume': {
      expect: 'header failure', code: 'foreign-volume', set: OTHER_SET,
      comment: 'a valid volume of set 20261123T091500.123Z-9f3a2c1b7e4d5a60 where another set is expected',
      volumeBytes: recipientVolume,
    },
    'volume-out-of-place': {
      expect: 'header failure', code: 'volume-out-of-place', volume: 1, firstChunk: 0,
      comment: 'volume 2 of a set (multi-volume-2) where volume 1 is expected',
      volumeBytes: vol2,
    },
    'first-chunk-mismatch': {
      expect: 'header failure', code: 'volume-out-of-place', volume: 2, firstChunk: 4,
      comment: 'volume 2 starts at chunk 3, the reader expects 4',
      volumeBytes: vol2,
    },

    // --- chunk failures
    'ciphertext-flipped': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'one bit flipped in the ciphertext of chunk 1',
      volumeBytes: Buffer.concat([multi.header, multi.frames[0]!, flip(multi.frames[1]!, 1000), ...multi.frames.slice(2)]),
    },
    'tag-flipped': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'one bit flipped in the GCM tag of chunk 1',
      volumeBytes: Buffer.concat([multi.header, multi.frames[0]!, flip(multi.frames[1]!, multi.frames[1]!.length - 1), ...multi.frames.slice(2)]),
    },
    'frame-length-plus-one': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'the length of chunk 0 is one too large: its body takes the first byte of the next frame and fails authentication',
      volumeBytes: Buffer.concat([multi.header, withU32(multi.frames[0]!, 0, multi.frames[0]!.length - FRAME_PREFIX_BYTES + 1), ...multi.frames.slice(1)]),
    },
    'frame-length-too-large': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: `the length of chunk 0 is ${maxSealedBytes(CHUNK) + 1}, one more than 1 + chunk size + 16`,
      volumeBytes: Buffer.concat([multi.header, withU32(multi.frames[0]!, 0, maxSealedBytes(CHUNK) + 1), ...multi.frames.slice(1)]),
    },
    'frame-length-too-small': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'the length of chunk 0 is 16, less than a codec byte and a tag',
      volumeBytes: Buffer.concat([multi.header, withU32(multi.frames[0]!, 0, 16), ...multi.frames.slice(1)]),
    },
    'chunks-swapped': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'chunks 0 and 1 in each other\'s place',
      volumeBytes: Buffer.concat([multi.header, multi.frames[1]!, multi.frames[0]!, ...multi.frames.slice(2)]),
    },
    'chunk-from-other-volume': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'chunk 0 sealed with the right index and flag under the key of volume 2',
      volumeBytes: assemble([a], [{ ...smallFrame(small[0]!), keyVolume: 2 }, endOfSet]),
    },
    'empty-data-chunk': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'chunk 0 is a data chunk with no data: 17 sealed bytes mean an end chunk, so it fails authentication',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: Codec.none, data: Buffer.alloc(0) }, ...small.map(smallFrame), endOfSet]),
    },
    'non-empty-end-chunk': {
      expect: 'chunk failure', code: 'chunk-tampered',
      comment: 'the end-of-set chunk carries one data byte: only 17-byte bodies are end chunks, so it fails authentication',
      volumeBytes: assemble([a], [...small.map(smallFrame), { ...endOfSet, data: Buffer.of(0) }]),
    },
    'unknown-codec': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'chunk 0 authenticates but its codec byte is 7',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: 7, data: SMALL_TAR }, endOfSet]),
    },
    'invalid-deflate': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'chunk 0 authenticates, codec 1, but its data is not raw DEFLATE (reserved block type 3)',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: Codec.deflate, data: Buffer.alloc(64, 0xff) }, endOfSet]),
    },
    'inflates-beyond-chunk-size': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'chunk 0 authenticates, codec 1, and inflates to 4097 bytes, one more than the chunk size',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: Codec.deflate, data: deflateRawFixed(Buffer.alloc(CHUNK + 1)) }, endOfSet]),
    },
    'stored-chunk-too-long': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'chunk 0 is stored (codec 0) with 4097 bytes, one more than the chunk size',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: Codec.none, data: Buffer.alloc(CHUNK + 1) }, endOfSet]),
    },
    'padding-not-zero': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'chunk 0 authenticates and is padded (codec 0x80), but a byte of its fill is not zero',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: PADDED, data: flip(padPayload({ codec: Codec.none, bytes: SMALL_TAR }, CHUNK, CHUNK).bytes, CHUNK) }, endOfSet]),
    },
    'padded-length-too-large': {
      expect: 'chunk failure', code: 'chunk-corrupt',
      comment: 'chunk 0 authenticates and is padded, but its inner length field says 4097, more than the chunk size',
      volumeBytes: assemble([a], [{ flag: ChunkFlag.data, codec: PADDED, data: withU32(padPayload({ codec: Codec.none, bytes: SMALL_TAR }, CHUNK, CHUNK).bytes, 0, CHUNK + 1) }, endOfSet]),
    },
    'trailing-data': {
      expect: 'chunk failure', code: 'trailing-data',
      comment: 'one zero byte after the end-of-set chunk',
      volumeBytes: Buffer.concat([multiVolume, Buffer.of(0)]),
    },

    // --- truncation
    'missing-end-chunk': {
      expect: 'truncated', code: 'volume-truncated',
      comment: 'the end-of-set chunk is gone; the file ends after data chunk 2',
      volumeBytes: Buffer.concat([multi.header, ...multi.frames.slice(0, 3)]),
    },
    'truncated-at-chunk-boundary': {
      expect: 'truncated', code: 'volume-truncated',
      comment: 'the file ends after data chunk 0',
      volumeBytes: Buffer.concat([multi.header, multi.frames[0]!]),
    },
    'truncated-inside-chunk': {
      expect: 'truncated', code: 'volume-truncated',
      comment: 'the file ends 1000 bytes into the body of chunk 1',
      volumeBytes: Buffer.concat([multi.header, multi.frames[0]!, multi.frames[1]!.subarray(0, FRAME_PREFIX_BYTES + 1000)]),
    },
    'truncated-inside-length': {
      expect: 'truncated', code: 'volume-truncated',
      comment: 'the file ends two bytes into the length of chunk 1',
      volumeBytes: Buffer.concat([multi.header, multi.frames[0]!, multi.frames[1]!.subarray(0, 2)]),
    },
    'end-of-volume-in-last-volume': {
      expect: 'truncated', code: 'set-truncated',
      comment: 'the volume must end the set but closes with an end-of-volume chunk: the rest of the set is missing',
      volumeBytes: assemble([a], [...small.map(smallFrame), { ...endOfSet, flag: ChunkFlag.endOfVolume }]),
    },
    'end-of-set-before-last-volume': {
      expect: 'truncated', code: 'set-truncated', last: 'no',
      comment: 'the reader expects more volumes after this one, but it closes with an end-of-set chunk',
      volumeBytes: recipientVolume,
    },
  };

  const files = new Map<string, Buffer>();
  for (const [name, s] of Object.entries(specs)) {
    const { payload, ...rest } = s;
    const v: Vector = {
      set: SET,
      volume: 1,
      firstChunk: 0,
      last: 'yes',
      identities: [LINE_A],
      ...rest,
      ...(payload ? { payload: sha256(payload) } : {}),
    };
    files.set(name, formatVector(v));
  }
  return files;
}
