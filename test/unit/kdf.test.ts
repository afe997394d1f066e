// crypto/kdf: HKDF-SHA256 (@noble/hashes) agrees with node:crypto and RFC 5869;
// subkeys are separated by volume index, set id and label; scrypt parameters
// outside the accepted range are refused.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  headerMacKey,
  hkdfSha256,
  hmacSha256,
  manifestMacKey,
  scrypt,
  scryptParamsAcceptable,
  volumeKey,
} from '../../src/crypto/kdf.js';

describe('hkdfSha256', () => {
  test('RFC 5869 test case 1', () => {
    const ikm = Buffer.from('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b', 'hex');
    const salt = Buffer.from('000102030405060708090a0b0c', 'hex');
    const info = Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex');
    expect(hkdfSha256(ikm, salt, info, 42).toString('hex')).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });

  test('matches node:crypto hkdfSync for random inputs and lengths', () => {
    for (let i = 0; i < 200; i++) {
      const ikm = randomBytes(i % 70);
      const salt = randomBytes((i * 7) % 65);
      const info = randomBytes((i * 3) % 40);
      const length = 1 + ((i * 13) % 100);
      const ours = hkdfSha256(ikm, salt, info, length);
      const theirs = Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
      expect(ours.equals(theirs), `case ${i}`).toBe(true);
    }
  });

  test('a string label is its UTF-8 bytes; the default length is 32', () => {
    const ikm = randomBytes(32);
    const salt = randomBytes(16);
    const viaString = hkdfSha256(ikm, salt, 'coffer v1 häder');
    expect(viaString.length).toBe(32);
    expect(viaString.equals(Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('coffer v1 häder', 'utf8'), 32)))).toBe(true);
  });

  test('hmacSha256 matches node:crypto', () => {
    const key = randomBytes(32);
    const data = randomBytes(1000);
    expect(hmacSha256(key, data).equals(createHmac('sha256', key).update(data).digest())).toBe(true);
  });
});

describe('subkeys', () => {
  const dataKey = randomBytes(32);
  const setA = randomBytes(16);
  const setB = randomBytes(16);

  test('volume keys differ per volume index and per set id', () => {
    const seen = new Set<string>();
    for (const set of [setA, setB]) {
      for (const index of [0, 1, 2, 3, 255, 256, 65536, 2 ** 32 - 1]) {
        const k = volumeKey(dataKey, set, index);
        expect(k.length).toBe(32);
        seen.add(k.toString('hex'));
      }
    }
    expect(seen.size).toBe(16);
  });

  test('volume keys are deterministic and depend on the data key', () => {
    expect(volumeKey(dataKey, setA, 7).equals(volumeKey(Buffer.from(dataKey), Buffer.from(setA), 7))).toBe(true);
    expect(volumeKey(randomBytes(32), setA, 7).equals(volumeKey(dataKey, setA, 7))).toBe(false);
  });

  test('MAC keys are separate from each other and from every volume key', () => {
    const keys = [headerMacKey(dataKey, setA), manifestMacKey(dataKey, setA), volumeKey(dataKey, setA, 0), volumeKey(dataKey, setA, 1), headerMacKey(dataKey, setB)];
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(keys.length);
  });
});

describe('scrypt', () => {
  test('parameter bounds: r = 8, p = 1, N from 2^10 to 2^20', () => {
    expect(scryptParamsAcceptable({ logN: 10, r: 8, p: 1 })).toBe(true);
    expect(scryptParamsAcceptable({ logN: 18, r: 8, p: 1 })).toBe(true);
    expect(scryptParamsAcceptable({ logN: 20, r: 8, p: 1 })).toBe(true);
    expect(scryptParamsAcceptable({ logN: 9, r: 8, p: 1 })).toBe(false);
    expect(scryptParamsAcceptable({ logN: 21, r: 8, p: 1 })).toBe(false);
    expect(scryptParamsAcceptable({ logN: 255, r: 8, p: 1 })).toBe(false);
    expect(scryptParamsAcceptable({ logN: 10, r: 1, p: 1 })).toBe(false);
    expect(scryptParamsAcceptable({ logN: 10, r: 32, p: 1 })).toBe(false);
    expect(scryptParamsAcceptable({ logN: 10, r: 8, p: 0 })).toBe(false);
    expect(scryptParamsAcceptable({ logN: 10, r: 8, p: 2 })).toBe(false);
  });

  test('RFC 7914 test vector 2 (N=1024, r=8, p=16)', async () => {
    const key = await scrypt(Buffer.from('password'), Buffer.from('NaCl'), { logN: 10, r: 8, p: 16 });
    // scrypt() derives 32 bytes: the first half of the RFC's 64-byte output.
    expect(key.toString('hex')).toBe('fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162');
  });

  test('depends on passphrase and salt', async () => {
    const p = { logN: 10, r: 8, p: 1 };
    const salt = randomBytes(16);
    const a = await scrypt(Buffer.from('one'), salt, p);
    expect((await scrypt(Buffer.from('one'), salt, p)).equals(a)).toBe(true);
    expect((await scrypt(Buffer.from('two'), salt, p)).equals(a)).toBe(false);
    expect((await scrypt(Buffer.from('one'), randomBytes(16), p)).equals(a)).toBe(false);
  });
});
