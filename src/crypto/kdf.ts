/**
 * Key derivations. HKDF-SHA256 (@noble/hashes: small inputs, pure code) turns
 * a set's data key into its subkeys; scrypt (node:crypto, native) turns a
 * passphrase into a wrapping key. Every label is listed in docs/FORMAT.md.
 */
import { scrypt as scryptCb } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { u32 } from '../format/bytes.js';

export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length = 32): Buffer {
  const infoBytes = typeof info === 'string' ? Buffer.from(info, 'utf8') : info;
  return Buffer.from(hkdf(sha256, ikm, salt, infoBytes, length));
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  return Buffer.from(hmac(sha256, key, data));
}

export function volumeKey(dataKey: Uint8Array, setId: Uint8Array, volumeIndex: number): Buffer {
  return hkdfSha256(dataKey, setId, Buffer.concat([Buffer.from('coffer v1 volume key', 'utf8'), u32(volumeIndex)]));
}

export function headerMacKey(dataKey: Uint8Array, setId: Uint8Array): Buffer {
  return hkdfSha256(dataKey, setId, 'coffer v1 header mac');
}

export function manifestMacKey(dataKey: Uint8Array, setId: Uint8Array): Buffer {
  return hkdfSha256(dataKey, setId, 'coffer v1 manifest mac');
}

export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

/** age's choice: N = 2^18 (256 MiB), about 0.9 s here. */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 18, r: 8, p: 1 };
/**
 * Decoders accept r = 8, p = 1 and N up to 2^20 (1 GiB) only, so a crafted
 * file cannot demand unbounded memory or time (age fixes r and p likewise).
 */
export const MAX_SCRYPT_LOG_N = 20;

export function scryptParamsAcceptable(p: ScryptParams): boolean {
  return p.logN >= 10 && p.logN <= MAX_SCRYPT_LOG_N && p.r === 8 && p.p === 1;
}

export function scrypt(passphrase: Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  const maxmem = 128 * N * params.r * params.p + 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCb(passphrase, salt, 32, { N, r: params.r, p: params.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
