/**
 * The key model. Each set has a fresh random 256-bit data key, wrapped in
 * stanzas: one per X25519 recipient (ephemeral key agreement + HKDF, as age
 * does) and/or one per passphrase (scrypt). The backup host needs only the
 * recipients' public keys. Identities hold a 32-byte seed from which an
 * X25519 key (to decrypt) and an Ed25519 key (to sign manifests) derive.
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign, verify, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { nodeAead, KEY_BYTES, NONCE_BYTES } from './aead.js';
import { hkdfSha256, scrypt, DEFAULT_SCRYPT, scryptParamsAcceptable } from './kdf.js';
import type { ScryptParams } from './kdf.js';
import type { Stanza } from '../format/volume-header.js';
import { UsageError } from '../errors.js';

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const ZERO_NONCE = Buffer.alloc(NONCE_BYTES);

export interface PublicKeys {
  x25519: Buffer;
  ed25519: Buffer;
}

export interface Identity {
  seed: Buffer;
  public: PublicKeys;
  x25519Secret: KeyObject;
  ed25519Secret: KeyObject;
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function identityFromSeed(seed: Buffer): Identity {
  const x = hkdfSha256(seed, Buffer.alloc(0), 'coffer v1 identity x25519');
  const e = hkdfSha256(seed, Buffer.alloc(0), 'coffer v1 identity ed25519');
  const x25519Secret = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, x]), format: 'der', type: 'pkcs8' });
  const ed25519Secret = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, e]), format: 'der', type: 'pkcs8' });
  return {
    seed,
    x25519Secret,
    ed25519Secret,
    public: { x25519: rawPublic(x25519Secret, X25519_SPKI), ed25519: rawPublic(ed25519Secret, ED25519_SPKI) },
  };
}

function rawPublic(secret: KeyObject, spkiPrefix: Buffer): Buffer {
  const der = createPublicKey(secret).export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(spkiPrefix.length));
}

function x25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI, raw]), format: 'der', type: 'spki' });
}

function x25519Shared(secret: KeyObject, peerPublic: Uint8Array): Buffer | undefined {
  // A low-order peer key gives an all-zero secret anyone could compute. OpenSSL
  // refuses to derive it and throws; treat that like the all-zero check below.
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: secret, publicKey: x25519Public(peerPublic) });
  } catch {
    return undefined;
  }
  return shared.every((b) => b === 0) ? undefined : shared;
}

function x25519WrapKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Buffer {
  return hkdfSha256(shared, Buffer.concat([ephemeral, recipient]), 'coffer v1 x25519 wrap');
}

/**
 * `ephemeralSeed` (32 bytes) fixes the ephemeral key for test vectors only;
 * a real backup MUST leave it out, or the wrap key repeats across sets.
 */
export function wrapForRecipient(dataKey: Buffer, setId: Uint8Array, recipient: Uint8Array, ephemeralSeed: Buffer = randomBytes(32)): Stanza {
  if (ephemeralSeed.length !== 32) throw new Error('ephemeral seed must be 32 bytes');
  const ephemeral = identityFromSeed(ephemeralSeed);
  const shared = x25519Shared(ephemeral.x25519Secret, recipient);
  if (!shared) throw new UsageError('bad-recipient', 'a recipient public key is a low-order point, which would let anyone read the set', { hint: 'give a .pub file written by coffer keygen' });
  const wrapKey = x25519WrapKey(shared, ephemeral.public.x25519, recipient);
  return { type: 'x25519', ephemeral: ephemeral.public.x25519, wrapped: nodeAead.seal(wrapKey, ZERO_NONCE, dataKey, setId) };
}

/** `salt` (16 bytes) fixes the scrypt salt for test vectors only; a real backup MUST leave it out. */
export async function wrapForPassphrase(
  dataKey: Buffer,
  setId: Uint8Array,
  passphrase: Uint8Array,
  params: ScryptParams = DEFAULT_SCRYPT,
  salt: Buffer = randomBytes(16),
): Promise<Stanza> {
  if (salt.length !== 16) throw new Error('scrypt salt must be 16 bytes');
  const wrapKey = await scrypt(passphrase, salt, params);
  return { type: 'scrypt', params, salt, wrapped: nodeAead.seal(wrapKey, ZERO_NONCE, dataKey, setId) };
}

/** What a reader holds to open a set: identities, a passphrase, or both. */
export interface KeySource {
  identities: Identity[];
  passphrase?: Uint8Array;
}

/**
 * Tries every stanza with every key held; returns the data key, or undefined
 * when none opens (a wrong key, or a stanza that was tampered with).
 */
export async function unwrapDataKey(stanzas: readonly Stanza[], setId: Uint8Array, keys: KeySource): Promise<Buffer | undefined> {
  for (const stanza of stanzas) {
    if (stanza.type !== 'x25519') continue;
    for (const id of keys.identities) {
      const shared = x25519Shared(id.x25519Secret, stanza.ephemeral);
      if (!shared) continue;
      const wrapKey = x25519WrapKey(shared, stanza.ephemeral, id.public.x25519);
      const dataKey = nodeAead.open(wrapKey, ZERO_NONCE, stanza.wrapped, setId);
      if (dataKey) return dataKey;
    }
  }
  // Only the first passphrase stanza is tried: a crafted header cannot make us run scrypt many times.
  const passphraseStanza = stanzas.find((s) => s.type === 'scrypt');
  if (keys.passphrase && passphraseStanza?.type === 'scrypt' && scryptParamsAcceptable(passphraseStanza.params)) {
    const wrapKey = await scrypt(keys.passphrase, passphraseStanza.salt, passphraseStanza.params);
    const dataKey = nodeAead.open(wrapKey, ZERO_NONCE, passphraseStanza.wrapped, setId);
    if (dataKey) return dataKey;
  }
  return undefined;
}

export function signManifest(id: Identity, message: Uint8Array): Buffer {
  return sign(null, message, id.ed25519Secret);
}

export function verifyManifestSignature(ed25519Public: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, ed25519Public]), format: 'der', type: 'spki' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
