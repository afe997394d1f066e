/**
 * Zstandard for chunks. Compression needs the native binding (zstd-napi,
 * built from its bundled sources at install). Decompression uses it too, and
 * falls back to fzstd (pure JavaScript, slower) where the binding cannot
 * load, so a set made anywhere restores on every supported Node.
 *
 * Every chunk is one zstd frame that declares its content size; a decoder
 * allocates exactly that, after checking it against the chunk size, so a
 * crafted frame cannot make it allocate more.
 */
import { createRequire } from 'node:module';
import { decompress as fzstdDecompress } from 'fzstd';

interface Native {
  compressInto(dst: Uint8Array, src: Uint8Array, level: number): number;
  compressBound(length: number): number;
  decompressInto(dst: Buffer, src: Uint8Array): number;
  frameBytes(src: Uint8Array): number;
}

function loadNative(): Native | undefined {
  try {
    const require = createRequire(import.meta.url);
    const binding = require('zstd-napi/binding') as {
      CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
      DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
      compressBound(length: number): number;
      findFrameCompressedSize(src: Uint8Array): number;
    };
    const cctx = new binding.CCtx();
    const dctx = new binding.DCtx();
    return {
      compressInto: (dst, src, level) => cctx.compress(dst, src, level),
      compressBound: (length) => binding.compressBound(length),
      decompressInto: (dst, src) => dctx.decompress(dst, src),
      frameBytes: (src) => binding.findFrameCompressedSize(src),
    };
  } catch {
    return undefined;
  }
}

const native = loadNative();

export const zstdCanCompress = native !== undefined;

/** Room `zstdCompressInto` needs for `length` bytes of input, whatever they are. */
export function zstdCompressBound(length: number): number {
  if (!native) throw new Error('zstd compression needs the zstd-napi native module, which did not load');
  return native.compressBound(length);
}

/**
 * Compresses into `dst` (at least zstdCompressBound bytes) and returns the
 * compressed length. One frame that declares its content size.
 */
export function zstdCompressInto(dst: Uint8Array, data: Uint8Array, level: number): number {
  if (!native) throw new Error('zstd compression needs the zstd-napi native module, which did not load');
  return native.compressInto(dst, data, level);
}

const MAGIC = 0xfd2fb528;

/** The content size a zstd frame header declares, or undefined if it declares none or is malformed. */
export function zstdContentSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.readUInt32LE(0) !== MAGIC) return undefined;
  const descriptor = view[4]!;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = fcsFlag === 0 ? singleSegment : [1, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (at + fcsBytes > view.length) return undefined;
  switch (fcsBytes) {
    case 1: return view[at]!;
    case 2: return view.readUInt16LE(at) + 256;
    case 4: return view.readUInt32LE(at);
    default: {
      const v = view.readBigUInt64LE(at);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
    }
  }
}

/** One whole frame, at most maxLength bytes out, in `into` when it has room; undefined for anything else. */
export function zstdDecompress(bytes: Uint8Array, maxLength: number, into?: Buffer): Buffer | undefined {
  if (!native) return zstdDecompressPortable(bytes, maxLength);
  const size = zstdContentSize(bytes);
  if (size === undefined || size > maxLength) return undefined;
  const out = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  try {
    if (native.frameBytes(bytes) !== bytes.length) return undefined;
    return native.decompressInto(out, bytes) === size ? out : undefined;
  } catch {
    return undefined;
  }
}

/** The fallback decoder (fzstd), exported so tests can hold it to the same rules. */
export function zstdDecompressPortable(bytes: Uint8Array, maxLength: number): Buffer | undefined {
  const size = zstdContentSize(bytes);
  if (size === undefined || size > maxLength) return undefined;
  try {
    // Without an output buffer fzstd allocates what the header declares, which was bounded above.
    const result = fzstdDecompress(bytes);
    return result.length === size ? Buffer.from(result.buffer, result.byteOffset, result.byteLength) : undefined;
  } catch {
    return undefined;
  }
}
