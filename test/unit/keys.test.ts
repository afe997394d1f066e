// crypto/keys: wrapping the data key for recipients and passphrases, the
// refusals (wrong key, stanza moved to another set, low-order points), and
// Ed25519 manifest signatures.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  constantTimeEqual,
  identityFromSeed,
  newDataKey,
  signManifest,
  unwrapDataKey,
  verifyManifestSignature,
  wrapForPassphrase,
  wrapForRecipient,
} from '../../src/crypto/keys.js';
import { CofferError } from '../../src/errors.js';
import { decodeStanza, encodeStanza } from '../../src/format/volume-header.js';
import type { Stanza } from '../../src/format/volume-header.js';

const FAST = { logN: 10, r: 8, p: 1 };

function flipBit(b: Uint8Array, bit: number): Buffer {
  const out = Buffer.from(b);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** X25519 points of small order (and non-canonical encodings of them), as age and libsodium list them. */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

describe('identities', () => {
  test('derive deterministically from the seed', () => {
    const seed = randomBytes(32);
    const a = identityFromSeed(seed);
    const b = identityFromSeed(Buffer.from(seed));
    expect(a.public.x25519.equals(b.public.x25519)).toBe(true);
    expect(a.public.ed25519.equals(b.public.ed25519)).toBe(true);
    expect(a.public.x25519.length).toBe(32);
    expect(a.public.ed25519.length).toBe(32);
    const c = identityFromSeed(randomBytes(32));
    expect(c.public.x25519.equals(a.public.x25519)).toBe(false);
  });

  test('new data keys are 32 random bytes', () => {
    const a = newDataKey();
    expect(a.length).toBe(32);
    expect(a.equals(newDataKey())).toBe(false);
  });
});

describe('recipient stanzas', () => {
  const alice = identityFromSeed(randomBytes(32));
  const bob = identityFromSeed(randomBytes(32));
  const setId = randomBytes(16);

  test('round trip, also through the stanza codec', async () => {
    const dataKey = newDataKey();
    const stanza = wrapForRecipient(dataKey, setId, alice.public.x25519);
    expect(stanza.type).toBe('x25519');
    expect((await unwrapDataKey([stanza], setId, { identities: [alice] }))?.equals(dataKey)).toBe(true);
    const encoded = encodeStanza(stanza);
    const decoded = decodeStanza(encoded, 0)!;
    expect(decoded.next).toBe(encoded.length);
    expect((await unwrapDataKey([decoded.stanza], setId, { identities: [alice] }))?.equals(dataKey)).toBe(true);
  });

  test('each ephemeral key is fresh', () => {
    const dataKey = newDataKey();
    const a = wrapForRecipient(dataKey, setId, alice.public.x25519) as Extract<Stanza, { type: 'x25519' }>;
    const b = wrapForRecipient(dataKey, setId, alice.public.x25519) as Extract<Stanza, { type: 'x25519' }>;
    expect(a.ephemeral.equals(b.ephemeral)).toBe(false);
    expect(a.wrapped.equals(b.wrapped)).toBe(false);
  });

  test('any one of several recipients opens it, in any order', async () => {
    const dataKey = newDataKey();
    const stanzas = [wrapForRecipient(dataKey, setId, alice.public.x25519), wrapForRecipient(dataKey, setId, bob.public.x25519)];
    for (const ids of [[alice], [bob], [bob, alice]]) {
      expect((await unwrapDataKey(stanzas, setId, { identities: ids }))?.equals(dataKey)).toBe(true);
    }
  });

  test('a wrong identity gives undefined', async () => {
    const stanza = wrapForRecipient(newDataKey(), setId, alice.public.x25519);
    expect(await unwrapDataKey([stanza], setId, { identities: [bob] })).toBeUndefined();
    expect(await unwrapDataKey([stanza], setId, { identities: [] })).toBeUndefined();
    expect(await unwrapDataKey([stanza], setId, { identities: [], passphrase: Buffer.from('x') })).toBeUndefined();
  });

  test('a stanza moved to another set id fails', async () => {
    const stanza = wrapForRecipient(newDataKey(), setId, alice.public.x25519);
    expect(await unwrapDataKey([stanza], flipBit(setId, 127), { identities: [alice] })).toBeUndefined();
    expect(await unwrapDataKey([stanza], randomBytes(16), { identities: [alice] })).toBeUndefined();
  });

  test('a flipped bit anywhere in the stanza fails', async () => {
    const stanza = wrapForRecipient(newDataKey(), setId, alice.public.x25519) as Extract<Stanza, { type: 'x25519' }>;
    for (let bit = 0; bit < stanza.wrapped.length * 8; bit += 5) {
      expect(await unwrapDataKey([{ ...stanza, wrapped: flipBit(stanza.wrapped, bit) }], setId, { identities: [alice] })).toBeUndefined();
    }
    // bit 255 is ignored by X25519 (RFC 7748 masks it), so flip the others.
    for (let bit = 0; bit < 255; bit += 7) {
      expect(await unwrapDataKey([{ ...stanza, ephemeral: flipBit(stanza.ephemeral, bit) }], setId, { identities: [alice] })).toBeUndefined();
    }
  });

  test.each(LOW_ORDER.map((p, i) => [i, p] as const))('wrapping for low-order point %i is refused with a typed error', (_i, point) => {
    expect(() => wrapForRecipient(newDataKey(), setId, point)).toThrow(CofferError);
    expect(() => wrapForRecipient(newDataKey(), setId, point)).toThrow(/low-order/);
  });

  test.each(LOW_ORDER.map((p, i) => [i, p] as const))('a stanza with low-order ephemeral %i is skipped, not fatal', async (_i, point) => {
    const dataKey = newDataKey();
    const hostile: Stanza = { type: 'x25519', ephemeral: point, wrapped: randomBytes(48) };
    expect(await unwrapDataKey([hostile], setId, { identities: [alice] })).toBeUndefined();
    const good = wrapForRecipient(dataKey, setId, alice.public.x25519);
    expect((await unwrapDataKey([hostile, good], setId, { identities: [alice] }))?.equals(dataKey)).toBe(true);
  });

  test('unknown stanza types are ignored', async () => {
    const dataKey = newDataKey();
    const stanzas: Stanza[] = [{ type: 'unknown', code: 99, body: randomBytes(10) }, wrapForRecipient(dataKey, setId, alice.public.x25519)];
    expect((await unwrapDataKey(stanzas, setId, { identities: [alice] }))?.equals(dataKey)).toBe(true);
  });
});

describe('passphrase stanzas', () => {
  const setId = randomBytes(16);
  const pass = Buffer.from('correct horse battery staple');

  test('round trip with a small scrypt cost, also through the codec', async () => {
    const dataKey = newDataKey();
    const stanza = await wrapForPassphrase(dataKey, setId, pass, FAST);
    expect(stanza.type).toBe('scrypt');
    expect((await unwrapDataKey([stanza], setId, { identities: [], passphrase: pass }))?.equals(dataKey)).toBe(true);
    const decoded = decodeStanza(encodeStanza(stanza), 0)!;
    expect(decoded.stanza).toEqual(stanza);
    expect((await unwrapDataKey([decoded.stanza], setId, { identities: [], passphrase: pass }))?.equals(dataKey)).toBe(true);
  });

  test('a wrong passphrase gives undefined', async () => {
    const stanza = await wrapForPassphrase(newDataKey(), setId, pass, FAST);
    expect(await unwrapDataKey([stanza], setId, { identities: [], passphrase: Buffer.from('correct horse battery stapl') })).toBeUndefined();
    expect(await unwrapDataKey([stanza], setId, { identities: [] })).toBeUndefined();
    expect(await unwrapDataKey([stanza], setId, { identities: [identityFromSeed(randomBytes(32))] })).toBeUndefined();
  });

  test('a stanza moved to another set id fails', async () => {
    const stanza = await wrapForPassphrase(newDataKey(), setId, pass, FAST);
    expect(await unwrapDataKey([stanza], randomBytes(16), { identities: [], passphrase: pass })).toBeUndefined();
  });

  test('edited parameters or salt fail; unacceptable costs are not even tried', async () => {
    const stanza = (await wrapForPassphrase(newDataKey(), setId, pass, FAST)) as Extract<Stanza, { type: 'scrypt' }>;
    const keys = { identities: [], passphrase: pass };
    expect(await unwrapDataKey([{ ...stanza, params: { ...FAST, logN: 11 } }], setId, keys)).toBeUndefined();
    expect(await unwrapDataKey([{ ...stanza, salt: flipBit(stanza.salt, 0) }], setId, keys)).toBeUndefined();
    // logN 60 would need 2^60 * 1 KiB of memory: must be refused up front, not attempted.
    expect(await unwrapDataKey([{ ...stanza, params: { logN: 60, r: 8, p: 1 } }], setId, keys)).toBeUndefined();
  });

  test('recipient and passphrase stanzas side by side', async () => {
    const id = identityFromSeed(randomBytes(32));
    const dataKey = newDataKey();
    const stanzas = [wrapForRecipient(dataKey, setId, id.public.x25519), await wrapForPassphrase(dataKey, setId, pass, FAST)];
    expect((await unwrapDataKey(stanzas, setId, { identities: [id] }))?.equals(dataKey)).toBe(true);
    expect((await unwrapDataKey(stanzas, setId, { identities: [], passphrase: pass }))?.equals(dataKey)).toBe(true);
  });
});

describe('Ed25519 manifest signatures', () => {
  const id = identityFromSeed(randomBytes(32));
  const message = randomBytes(300);

  test('sign and verify', () => {
    const sig = signManifest(id, message);
    expect(sig.length).toBe(64);
    expect(verifyManifestSignature(id.public.ed25519, message, sig)).toBe(true);
    // deterministic (RFC 8032)
    expect(signManifest(id, message).equals(sig)).toBe(true);
  });

  test('a flipped bit in the message fails', () => {
    const sig = signManifest(id, message);
    for (let bit = 0; bit < message.length * 8; bit += 3) {
      expect(verifyManifestSignature(id.public.ed25519, flipBit(message, bit), sig), `bit ${bit}`).toBe(false);
    }
    expect(verifyManifestSignature(id.public.ed25519, message.subarray(1), sig)).toBe(false);
  });

  test('a flipped bit in the signature fails', () => {
    const sig = signManifest(id, message);
    for (let bit = 0; bit < sig.length * 8; bit++) {
      expect(verifyManifestSignature(id.public.ed25519, message, flipBit(sig, bit)), `bit ${bit}`).toBe(false);
    }
  });

  test('another key, a malformed key or signature: false, never a throw', () => {
    const sig = signManifest(id, message);
    const other = identityFromSeed(randomBytes(32));
    expect(verifyManifestSignature(other.public.ed25519, message, sig)).toBe(false);
    expect(verifyManifestSignature(id.public.ed25519.subarray(1), message, sig)).toBe(false);
    expect(verifyManifestSignature(Buffer.alloc(0), message, sig)).toBe(false);
    expect(verifyManifestSignature(id.public.ed25519, message, sig.subarray(0, 63))).toBe(false);
    expect(verifyManifestSignature(id.public.ed25519, message, Buffer.concat([sig, Buffer.of(0)]))).toBe(false);
    expect(verifyManifestSignature(id.public.ed25519, message, Buffer.alloc(0))).toBe(false);
  });

  test('constantTimeEqual', () => {
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('ab'))).toBe(false);
    expect(constantTimeEqual(Buffer.alloc(0), Buffer.alloc(0))).toBe(true);
  });
});
