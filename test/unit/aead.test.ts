// crypto/aead: the node:crypto implementation (bulk) and @noble/ciphers (the
// oracle) agree, both refuse every single-bit change and a cut tag, and both
// pass the Wycheproof AES-256-GCM known-answer vectors (fixtures/README.md).
// Every open is done twice, by open and by openInPlace, which must agree.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { KEY_BYTES, NONCE_BYTES, nodeAead } from '../../src/crypto/aead.js';
import { nobleAead } from '../../src/crypto/noble-aead.js';
import type { Aead } from '../../src/crypto/aead.js';
import { seededRandom } from './helpers.js';

const impls: Aead[] = [nodeAead, nobleAead];
const TAG = 16;

function flipBit(b: Uint8Array, bit: number): Buffer {
  const out = Buffer.from(b);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** open and openInPlace (on a copy of `sealed` inside a larger buffer), which must agree; open's answer. */
function opened(impl: Aead, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  const copied = impl.open(key, nonce, sealed, aad);
  const frame = Buffer.concat([Buffer.from('head'), sealed, Buffer.from('tail')]);
  const inPlace = impl.openInPlace(key, nonce, frame.subarray(4, 4 + sealed.length), aad);
  expect(inPlace === undefined, `${impl.name}: open and openInPlace disagree`).toBe(copied === undefined);
  if (inPlace) {
    expect(Buffer.from(inPlace).equals(copied!), impl.name).toBe(true);
    expect(inPlace.buffer === frame.buffer && inPlace.byteOffset === frame.byteOffset + 4, `${impl.name}: decrypted where it lay`).toBe(true);
  }
  expect(frame.subarray(0, 4).toString() + frame.subarray(4 + sealed.length).toString()).toBe('headtail');
  return copied;
}

/** Lengths around AES block (16) and 64 KiB boundaries, up to about 70 KiB. */
const LENGTHS = [
  0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 255, 256, 257, 1000, 4095, 4096, 4097,
  65535 - 16, 65535, 65536, 65537, 65536 + 15, 65536 + 16, 65536 + 17, 70 * 1024 + 3,
  // Several of the 64 KiB slices node's in-place seal and open work in.
  3 * 65536, 3 * 65536 + 1, 3 * 65536 - 1,
];

describe('node:crypto and @noble/ciphers agree', () => {
  test.each(LENGTHS)('plaintext of %i bytes', (len) => {
    const rnd = seededRandom(len + 1);
    for (const aadLen of [0, 1, 13, 16, 33]) {
      const key = randomBytes(KEY_BYTES);
      const nonce = randomBytes(NONCE_BYTES);
      const aad = rnd.bytes(aadLen);
      const plain = rnd.bytes(len);
      const a = nodeAead.seal(key, nonce, plain, aad);
      const b = nobleAead.seal(key, nonce, plain, aad);
      expect(a.length).toBe(len + TAG);
      expect(a.equals(b)).toBe(true);
      for (const impl of impls) {
        const plainAgain = opened(impl, key, nonce, a, aad);
        expect(plainAgain, impl.name).toBeDefined();
        expect(plainAgain!.equals(plain), impl.name).toBe(true);
      }
    }
  });

  test.each([0, 1, 17, 4096, 65536 + 3, 5 * 65536 + 7])('sealInPlace leaves in place what seal returns (%i bytes)', (len) => {
    const key = randomBytes(KEY_BYTES);
    const nonce = randomBytes(NONCE_BYTES);
    const aad = randomBytes(29);
    const plain = randomBytes(len);
    const sealed = nodeAead.seal(key, nonce, plain, aad);
    for (const impl of impls) {
      // A view into a larger buffer, as a frame's plaintext is: the bytes around it stay as they were.
      const frame = Buffer.concat([Buffer.from('head'), plain, Buffer.from('tail')]);
      const tag = impl.sealInPlace(key, nonce, frame.subarray(4, 4 + len), aad);
      expect(Buffer.concat([frame.subarray(4, 4 + len), tag]).equals(sealed), impl.name).toBe(true);
      expect(frame.subarray(0, 4).toString() + frame.subarray(4 + len).toString()).toBe('headtail');
    }
  });

  test('a different key, nonce or AAD gives a different ciphertext', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const plain = randomBytes(100);
    const base = nodeAead.seal(key, nonce, plain, Buffer.from('a'));
    expect(nodeAead.seal(flipBit(key, 0), nonce, plain, Buffer.from('a')).equals(base)).toBe(false);
    expect(nodeAead.seal(key, flipBit(nonce, 95), plain, Buffer.from('a')).equals(base)).toBe(false);
    const otherAad = nodeAead.seal(key, nonce, plain, Buffer.from('b'));
    // GCM: AAD only changes the tag, never the ciphertext.
    expect(otherAad.subarray(0, 100).equals(base.subarray(0, 100))).toBe(true);
    expect(otherAad.subarray(100).equals(base.subarray(100))).toBe(false);
  });
});

describe.each(impls)('$name refuses tampering', (impl) => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);

  test.each([0, 1, 16, 33, 200])('every flipped bit of ciphertext and tag (%i-byte plaintext)', (len) => {
    const plain = randomBytes(len);
    const aad = randomBytes(9);
    const sealed = nodeAead.seal(key, nonce, plain, aad);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      expect(opened(impl, key, nonce, flipBit(sealed, bit), aad), `bit ${bit}`).toBeUndefined();
    }
  });

  test('every flipped bit of the AAD', () => {
    const plain = randomBytes(40);
    const aad = randomBytes(29); // the size of a chunk's AAD
    const sealed = nodeAead.seal(key, nonce, plain, aad);
    for (let bit = 0; bit < aad.length * 8; bit++) {
      expect(opened(impl, key, nonce, sealed, flipBit(aad, bit)), `bit ${bit}`).toBeUndefined();
    }
    expect(opened(impl, key, nonce, sealed, Buffer.concat([aad, Buffer.of(0)]))).toBeUndefined();
    expect(opened(impl, key, nonce, sealed, aad.subarray(1))).toBeUndefined();
  });

  test('a wrong key or nonce', () => {
    const sealed = nodeAead.seal(key, nonce, Buffer.from('hello'), Buffer.alloc(0));
    expect(opened(impl, flipBit(key, 200), nonce, sealed, Buffer.alloc(0))).toBeUndefined();
    expect(opened(impl, key, flipBit(nonce, 3), sealed, Buffer.alloc(0))).toBeUndefined();
  });

  test('a truncated tag, an empty input, appended bytes', () => {
    for (const len of [0, 5, 16, 64]) {
      const sealed = nodeAead.seal(key, nonce, randomBytes(len), Buffer.alloc(0));
      for (let cut = 1; cut <= TAG; cut++) {
        expect(opened(impl, key, nonce, sealed.subarray(0, sealed.length - cut), Buffer.alloc(0)), `cut ${cut}`).toBeUndefined();
      }
      expect(opened(impl, key, nonce, Buffer.concat([sealed, Buffer.of(0)]), Buffer.alloc(0))).toBeUndefined();
    }
    expect(opened(impl, key, nonce, Buffer.alloc(0), Buffer.alloc(0))).toBeUndefined();
  });
});

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface WycheproofGroup {
  ivSize: number;
  keySize: number;
  tagSize: number;
  tests: WycheproofTest[];
}

const vectors = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'wycheproof-aes-gcm-256.json'), 'utf8')) as { testGroups: WycheproofGroup[] };
const cases = vectors.testGroups.flatMap((g) => {
  expect([g.ivSize, g.keySize, g.tagSize]).toEqual([96, 256, 128]);
  return g.tests;
});

describe('Wycheproof AES-GCM (256-bit key, 96-bit IV, 128-bit tag)', () => {
  test('the fixture holds valid and invalid cases', () => {
    expect(cases.filter((c) => c.result === 'valid').length).toBeGreaterThanOrEqual(20);
    expect(cases.filter((c) => c.result === 'invalid').length).toBeGreaterThanOrEqual(20);
  });

  describe.each(impls)('$name', (impl) => {
    test.each(cases)('tcId $tcId $result $comment', (c) => {
      const key = Buffer.from(c.key, 'hex');
      const iv = Buffer.from(c.iv, 'hex');
      const aad = Buffer.from(c.aad, 'hex');
      const msg = Buffer.from(c.msg, 'hex');
      const sealed = Buffer.from(c.ct + c.tag, 'hex');
      const plain = opened(impl, key, iv, sealed, aad);
      if (c.result === 'valid') {
        expect(plain?.toString('hex')).toBe(c.msg);
        expect(impl.seal(key, iv, msg, aad).toString('hex')).toBe(c.ct + c.tag);
      } else {
        expect(plain).toBeUndefined();
      }
    });
  });

  test('each "flipped bit" case differs from the sealed tag in exactly the bits it names', () => {
    // Guards the transcription of the fixture: the invalid cases share one
    // key, IV and message, so the genuine tag can be recomputed.
    for (const c of cases.filter((t) => /^Flipped bits? /.test(t.comment))) {
      const genuine = nodeAead.seal(Buffer.from(c.key, 'hex'), Buffer.from(c.iv, 'hex'), Buffer.from(c.msg, 'hex'), Buffer.from(c.aad, 'hex')).subarray(-TAG);
      let expected: Buffer = Buffer.from(genuine);
      for (const n of c.comment.match(/\d+/g)!.map(Number)) expected = flipBit(expected, n);
      expect(c.tag, `tcId ${c.tcId}`).toBe(expected.toString('hex'));
    }
  });
});
