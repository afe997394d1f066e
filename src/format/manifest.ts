/**
 * The manifest: written last, it is what makes a set complete. A plaintext
 * JSON header (ids, volume list with sizes and SHA-256, key stanzas, catalog
 * hash) followed by an HMAC under a key derived from the data key, an
 * optional Ed25519 signature over the same bytes, and the encrypted catalog.
 * Keyless verify can check the signature and volume hashes; anyone with a
 * key can also check the HMAC. Pure codec, no I/O.
 */
import { IntegrityError } from '../errors.js';
import { fromB64url, toB64url, u16, u32 } from './bytes.js';
import { decodeStanza, encodeStanza, FORMAT_VERSION } from './volume-header.js';
import type { Stanza } from './volume-header.js';
import { parseSetIdText } from './set-id.js';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './chunk.js';

export const MANIFEST_MAGIC = Buffer.from('coffer\0M', 'latin1');
export const MANIFEST_PREFIX_BYTES = 14;
export const MAX_MANIFEST_HEADER_BYTES = 64 * 1024 * 1024;
export const MANIFEST_MAC_BYTES = 32;
export const SIGNATURE_BYTES = 64;
const SIGNATURE_CONTEXT = Buffer.from('coffer v1 manifest signature\0', 'latin1');

export interface VolumeRecord {
  index: number;
  name: string;
  size: number;
  sha256: string;
  /** Global index of the volume's first chunk. */
  firstChunk: number;
  /** Data chunks in the volume, not counting its end chunk. */
  dataChunks: number;
}

export interface ManifestHeader {
  format: number;
  tool: string;
  set: string;
  created: string;
  label: string;
  chunkSize: number;
  stanzas: Stanza[];
  volumes: VolumeRecord[];
  /** Length in bytes of the set's tar stream. */
  tarBytes: number;
  catalog: { size: number; sha256: string; dataChunks: number };
  /** Ed25519 public key of the signer, or null when unsigned. */
  signer: Buffer | null;
}

export function encodeManifestHeaderJson(h: ManifestHeader): Buffer {
  const json = {
    format: h.format,
    tool: h.tool,
    set: h.set,
    created: h.created,
    label: h.label,
    chunkSize: h.chunkSize,
    stanzas: h.stanzas.map((s) => toB64url(encodeStanza(s))),
    volumes: h.volumes,
    tarBytes: h.tarBytes,
    catalog: h.catalog,
    signer: h.signer ? toB64url(h.signer) : null,
  };
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  return Buffer.concat([MANIFEST_MAGIC, u16(FORMAT_VERSION), u32(body.length), body]);
}

/** The message an Ed25519 signature covers: a context string, then the header bytes. */
export function signatureMessage(headerBytes: Uint8Array): Buffer {
  return Buffer.concat([SIGNATURE_CONTEXT, headerBytes]);
}

/** Bytes between the header and the catalog: MAC, signature flag, signature. */
export function encodeManifestAuth(mac: Buffer, signature: Buffer | null): Buffer {
  return Buffer.concat([mac, Buffer.of(signature ? 1 : 0), signature ?? Buffer.alloc(0)]);
}

function bad(what: string): IntegrityError {
  return new IntegrityError('bad-manifest', `manifest: ${what}`, { where: { volume: 'manifest' }, hint: 'the manifest is damaged or was edited; the set can still be restored from its volumes with --volumes-only' });
}

export function manifestHeaderLength(prefix: Buffer): number {
  if (prefix.length < MANIFEST_PREFIX_BYTES || !prefix.subarray(0, 8).equals(MANIFEST_MAGIC)) throw bad('not a coffer manifest (bad magic)');
  const version = prefix.readUInt16BE(8);
  if (version !== FORMAT_VERSION) {
    throw new IntegrityError('unsupported-version', `manifest: format version ${version} is not supported (this coffer reads version ${FORMAT_VERSION})`, { hint: 'use a newer coffer to read it' });
  }
  const length = prefix.readUInt32BE(10);
  if (length > MAX_MANIFEST_HEADER_BYTES) throw bad(`implausible header length ${length}`);
  return MANIFEST_PREFIX_BYTES + length;
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

export function decodeManifestHeader(headerBytes: Buffer): ManifestHeader {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(headerBytes.subarray(MANIFEST_PREFIX_BYTES).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('header is not valid JSON');
  }
  if (typeof v !== 'object' || v === null) throw bad('header is not an object');
  if (v.format !== FORMAT_VERSION) throw bad('format field does not match');
  if (typeof v.set !== 'string' || !parseSetIdText(v.set)) throw bad('set id');
  if (typeof v.tool !== 'string' || typeof v.created !== 'string' || typeof v.label !== 'string') throw bad('tool, created or label');
  if (!isUint(v.chunkSize) || v.chunkSize < MIN_CHUNK_SIZE || v.chunkSize > MAX_CHUNK_SIZE) throw bad('chunk size');
  if (!isUint(v.tarBytes)) throw bad('tarBytes');
  if (!Array.isArray(v.stanzas)) throw bad('stanzas');
  const stanzas = v.stanzas.map((s) => {
    const raw = typeof s === 'string' ? fromB64url(s) : undefined;
    const d = raw ? decodeStanza(raw, 0) : undefined;
    if (!d || d.next !== raw!.length) throw bad('malformed key stanza');
    return d.stanza;
  });
  if (!Array.isArray(v.volumes) || v.volumes.length === 0) throw bad('volume list');
  const volumes = v.volumes.map((r: unknown, i: number): VolumeRecord => {
    const o = r as Record<string, unknown>;
    if (typeof o !== 'object' || o === null) throw bad(`volume record ${i + 1}`);
    if (o.index !== i + 1 || o.name !== volumeName(i + 1)) throw bad(`volume record ${i + 1} index or name`);
    if (!isUint(o.size) || !isHash(o.sha256) || !isUint(o.firstChunk) || !isUint(o.dataChunks)) throw bad(`volume record ${i + 1}`);
    return { index: o.index, name: o.name, size: o.size, sha256: o.sha256, firstChunk: o.firstChunk, dataChunks: o.dataChunks };
  });
  // The volumes must tile the chunk indexes (one end chunk after each) and hold exactly the tar stream.
  for (let i = 0; i < volumes.length; i++) {
    const expected = i === 0 ? 0 : volumes[i - 1]!.firstChunk + volumes[i - 1]!.dataChunks + 1;
    if (volumes[i]!.firstChunk !== expected) throw bad(`volume record ${i + 1} starts at chunk ${volumes[i]!.firstChunk}, expected ${expected}`);
  }
  const dataChunks = volumes.reduce((n, r) => n + r.dataChunks, 0);
  if (dataChunks !== Math.ceil(v.tarBytes / v.chunkSize)) throw bad('volume records do not hold tarBytes');
  const c = v.catalog as Record<string, unknown> | undefined;
  if (typeof c !== 'object' || c === null || !isUint(c.size) || !isHash(c.sha256) || !isUint(c.dataChunks)) throw bad('catalog record');
  let signer: Buffer | null = null;
  if (v.signer !== null) {
    const raw = typeof v.signer === 'string' ? fromB64url(v.signer) : undefined;
    if (!raw || raw.length !== 32) throw bad('signer key');
    signer = raw;
  }
  return {
    format: v.format,
    tool: v.tool,
    set: v.set,
    created: v.created,
    label: v.label,
    chunkSize: v.chunkSize,
    stanzas,
    volumes,
    tarBytes: v.tarBytes,
    catalog: { size: c.size, sha256: c.sha256, dataChunks: c.dataChunks },
    signer,
  };
}

export function volumeName(index: number): string {
  return `volume-${String(index).padStart(6, '0')}`;
}

export { SIGNATURE_CONTEXT };
