/**
 * Volume header: the plaintext start of every volume. It says what the
 * volume is (magic, version, set id, index, first chunk) and carries the
 * wrapped data keys, so a set can be restored from its volumes alone. It
 * ends with an HMAC under a key derived from the data key: anyone with a key
 * to the set can tell a tampered header from a wrong key. Pure codec, no I/O.
 */
import { IntegrityError } from '../errors.js';
import { readU64, u16, u32, u64 } from './bytes.js';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from './chunk.js';
import type { ScryptParams } from '../crypto/kdf.js';
import { SET_ID_BYTES } from './set-id.js';

export const VOLUME_MAGIC = Buffer.from('coffer\0V', 'latin1');
export const FORMAT_VERSION = 1;
/** magic, version, header length: enough to learn how much more to read. */
export const HEADER_PREFIX_BYTES = 14;
export const HEADER_MAC_BYTES = 32;
export const MAX_HEADER_BYTES = 64 * 1024;
const FIXED_BYTES = 48;

export type Stanza =
  | { type: 'x25519'; ephemeral: Buffer; wrapped: Buffer }
  | { type: 'scrypt'; params: ScryptParams; salt: Buffer; wrapped: Buffer }
  | { type: 'unknown'; code: number; body: Buffer };

export interface VolumeHeader {
  setId: Buffer;
  volumeIndex: number;
  firstChunk: number;
  chunkSize: number;
  stanzas: Stanza[];
}

const StanzaType = { x25519: 1, scrypt: 2 } as const;

export function encodeStanza(s: Stanza): Buffer {
  let code: number;
  let body: Buffer;
  switch (s.type) {
    case 'x25519':
      code = StanzaType.x25519;
      body = Buffer.concat([s.ephemeral, s.wrapped]);
      break;
    case 'scrypt':
      code = StanzaType.scrypt;
      body = Buffer.concat([Buffer.of(s.params.logN, s.params.r, s.params.p), s.salt, s.wrapped]);
      break;
    case 'unknown':
      code = s.code;
      body = s.body;
      break;
  }
  return Buffer.concat([Buffer.of(code), u16(body.length), body]);
}

/** Decodes one stanza at `at`; returns it and the offset after it, or undefined if malformed. */
export function decodeStanza(b: Buffer, at: number): { stanza: Stanza; next: number } | undefined {
  if (at + 3 > b.length) return undefined;
  const code = b[at]!;
  const len = b.readUInt16BE(at + 1);
  const body = b.subarray(at + 3, at + 3 + len);
  if (body.length !== len) return undefined;
  const next = at + 3 + len;
  if (code === StanzaType.x25519) {
    if (len !== 80) return undefined;
    return { stanza: { type: 'x25519', ephemeral: Buffer.from(body.subarray(0, 32)), wrapped: Buffer.from(body.subarray(32)) }, next };
  }
  if (code === StanzaType.scrypt) {
    if (len !== 67) return undefined;
    const params = { logN: body[0]!, r: body[1]!, p: body[2]! };
    return { stanza: { type: 'scrypt', params, salt: Buffer.from(body.subarray(3, 19)), wrapped: Buffer.from(body.subarray(19)) }, next };
  }
  return { stanza: { type: 'unknown', code, body: Buffer.from(body) }, next };
}

/** Header bytes without the MAC (the MAC input), with the length field counting the MAC. */
export function encodeVolumeHeader(h: VolumeHeader): Buffer {
  const stanzas = Buffer.concat(h.stanzas.map(encodeStanza));
  const length = FIXED_BYTES + stanzas.length + HEADER_MAC_BYTES;
  return Buffer.concat([
    VOLUME_MAGIC,
    u16(FORMAT_VERSION),
    u32(length),
    h.setId,
    u32(h.volumeIndex),
    u64(h.firstChunk),
    u32(h.chunkSize),
    u16(h.stanzas.length),
    stanzas,
  ]);
}

function bad(what: string, volume: string | undefined): IntegrityError {
  return new IntegrityError('bad-volume-header', `${volume ?? 'volume'}: ${what}`, {
    ...(volume ? { where: { volume } } : {}),
    hint: 'the volume is damaged or is not a coffer volume',
  });
}

/** Reads the total header length from its first 14 bytes, checking magic and version. */
export function volumeHeaderLength(prefix: Buffer, volume?: string): number {
  if (prefix.length < HEADER_PREFIX_BYTES || !prefix.subarray(0, 8).equals(VOLUME_MAGIC)) throw bad('not a coffer volume (bad magic)', volume);
  const version = prefix.readUInt16BE(8);
  if (version !== FORMAT_VERSION) {
    throw new IntegrityError('unsupported-version', `${volume ?? 'volume'}: format version ${version} is not supported (this coffer reads version ${FORMAT_VERSION})`, {
      ...(volume ? { where: { volume } } : {}),
      hint: 'use a newer coffer to read it',
    });
  }
  const length = prefix.readUInt32BE(10);
  if (length < FIXED_BYTES + HEADER_MAC_BYTES || length > MAX_HEADER_BYTES) throw bad(`implausible header length ${length}`, volume);
  return length;
}

export interface DecodedVolumeHeader {
  header: VolumeHeader;
  /** The bytes the MAC covers. */
  macInput: Buffer;
  mac: Buffer;
}

export function decodeVolumeHeader(b: Buffer, volume?: string): DecodedVolumeHeader {
  const length = volumeHeaderLength(b, volume);
  if (b.length !== length) throw bad('truncated header', volume);
  const setId = Buffer.from(b.subarray(14, 14 + SET_ID_BYTES));
  const volumeIndex = b.readUInt32BE(30);
  const firstChunk = readU64(b, 34);
  const chunkSize = b.readUInt32BE(42);
  const count = b.readUInt16BE(46);
  if (firstChunk === undefined) throw bad('first chunk index out of range', volume);
  if (volumeIndex < 1) throw bad('volume index 0', volume);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw bad(`implausible chunk size ${chunkSize}`, volume);
  const macStart = length - HEADER_MAC_BYTES;
  const stanzas: Stanza[] = [];
  let at = FIXED_BYTES;
  for (let i = 0; i < count; i++) {
    const d = decodeStanza(b.subarray(0, macStart), at);
    if (!d) throw bad('malformed key stanza', volume);
    stanzas.push(d.stanza);
    at = d.next;
  }
  if (at !== macStart) throw bad('header length does not match its contents', volume);
  return {
    header: { setId, volumeIndex, firstChunk, chunkSize, stanzas },
    macInput: Buffer.from(b.subarray(0, macStart)),
    mac: Buffer.from(b.subarray(macStart)),
  };
}
