/**
 * AES-256-GCM behind one small interface, so the pipeline never names a
 * library. Bulk data goes through node:crypto (OpenSSL, about 60x faster
 * here); @noble/ciphers is the independent implementation the tests check
 * it against. `open` returns plaintext only after the tag verified.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;

export interface Aead {
  readonly name: string;
  /** Returns ciphertext followed by the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer;
  /**
   * Replaces `data` with its ciphertext and returns the 16-byte tag, so a
   * frame laid out around its plaintext needs no second buffer to be sealed.
   */
  sealInPlace(key: Uint8Array, nonce: Uint8Array, data: Uint8Array, aad: Uint8Array): Buffer;
  /** Returns the plaintext, or undefined when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined;
  /**
   * Decrypts `sealed` where it lies and returns the plaintext, a view of its
   * start; undefined when authentication fails, and then `sealed` holds
   * neither ciphertext nor plaintext and must not be used.
   */
  openInPlace(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
}

export const nodeAead: Aead = {
  name: 'node:crypto aes-256-gcm',
  seal(key, nonce, plaintext, aad) {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    return Buffer.concat([head, tail, cipher.getAuthTag()]);
  },
  sealInPlace(key, nonce, data, aad) {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    inSlices(data, (slice) => cipher.update(slice));
    data.set(cipher.final(), data.length);
    return cipher.getAuthTag();
  },
  open(key, nonce, sealed, aad) {
    if (sealed.length < 16) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const head = decipher.update(sealed.subarray(0, sealed.length - 16));
    try {
      const tail = decipher.final();
      return tail.length ? Buffer.concat([head, tail]) : head;
    } catch {
      return undefined;
    }
  },
  openInPlace(key, nonce, sealed, aad) {
    if (sealed.length < 16) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const body = sealed.subarray(0, sealed.length - 16);
    inSlices(body, (slice) => decipher.update(slice));
    try {
      decipher.final();
      return body;
    } catch {
      return undefined;
    }
  },
};

/**
 * node:crypto returns each update's output in a new, zero-filled buffer.
 * Fed a whole 1 MiB chunk, that is a fresh 1 MiB mapping per chunk (the
 * largest source of a backup's page faults, measured with perf); slices this
 * small come from malloc's heap and are still in cache when copied back.
 */
const SLICE_BYTES = 64 * 1024;

/** Replaces `data`, slice by slice, with what `transform` returns for each slice (of the same length). */
function inSlices(data: Uint8Array, transform: (slice: Uint8Array) => Buffer): void {
  for (let at = 0; at < data.length; at += SLICE_BYTES) {
    const out = transform(data.subarray(at, at + SLICE_BYTES));
    data.set(out, at);
  }
}
