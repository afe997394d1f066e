/**
 * AES-256-GCM from @noble/ciphers, behind the same interface as node:crypto's
 * (aead.ts): the independent implementation the tests check it against. A
 * module of its own, as building its tables costs every thread that imports
 * it about 16 ms at start.
 */
import { gcm } from '@noble/ciphers/aes.js';
import type { Aead } from './aead.js';

export const nobleAead: Aead = {
  name: '@noble/ciphers gcm',
  seal(key, nonce, plaintext, aad) {
    return Buffer.from(gcm(key, nonce, aad).encrypt(plaintext));
  },
  sealInPlace(key, nonce, data, aad) {
    const sealed = gcm(key, nonce, aad).encrypt(data);
    data.set(sealed.subarray(0, data.length));
    return Buffer.from(sealed.subarray(data.length));
  },
  open(key, nonce, sealed, aad) {
    try {
      return Buffer.from(gcm(key, nonce, aad).decrypt(sealed));
    } catch {
      return undefined;
    }
  },
  openInPlace(key, nonce, sealed, aad) {
    const plain = this.open(key, nonce, sealed, aad);
    if (!plain) return undefined;
    sealed.set(plain);
    return sealed.subarray(0, plain.length);
  },
};
