/** Small big-endian helpers shared by the codecs; no I/O. */

export function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

export function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Reads a u64 that must fit a JavaScript safe integer (2^53 chunks or bytes is beyond any archive). */
export function readU64(b: Uint8Array, at: number): number | undefined {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64BE(at);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

export function toB64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** Decodes canonical, unpadded base64url only: one text per byte string, as toB64url writes it. */
export function fromB64url(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64url');
  // Node ignores a dangling last character and the unused low bits of the last one.
  return b.toString('base64url') === s ? b : undefined;
}
