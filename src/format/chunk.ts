/**
 * Chunk frames, after age's STREAM: each plaintext chunk is sealed with
 * AES-256-GCM under its volume's key, with a nonce made from the chunk's
 * index in the set (never reused under one key) and additional data that
 * binds set id, volume index, chunk index and the end flags. A volume ends
 * with an empty end chunk; without it the volume was truncated.
 *
 * Frame: u32 BE length L of the sealed body, then L bytes (ciphertext + tag).
 * Sealed plaintext: one codec byte, then the chunk's (maybe compressed) bytes.
 */
import { u32, u64 } from './bytes.js';

export const TAG_BYTES = 16;
export const FRAME_PREFIX_BYTES = 4;
export const MIN_CHUNK_SIZE = 4096;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

export const ChunkFlag = {
  data: 0,
  /** The last chunk of a volume that is not the last of the set. */
  endOfVolume: 1,
  /** The last chunk of the set. */
  endOfSet: 2,
} as const;
export type ChunkFlag = (typeof ChunkFlag)[keyof typeof ChunkFlag];

export const Codec = { none: 0, deflate: 1, zstd: 2 } as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

/** Sealed body of an end chunk: codec byte of an empty payload plus the tag. */
export const END_SEALED_BYTES = 1 + TAG_BYTES;
/** A whole end frame: length prefix and sealed body. */
export const END_FRAME_BYTES = FRAME_PREFIX_BYTES + END_SEALED_BYTES;

export function chunkAad(setId: Uint8Array, volumeIndex: number, chunkIndex: number, flag: ChunkFlag): Buffer {
  return Buffer.concat([setId, u32(volumeIndex), u64(chunkIndex), Buffer.of(flag)]);
}

export function chunkNonce(chunkIndex: number): Buffer {
  return Buffer.concat([Buffer.alloc(4), u64(chunkIndex)]);
}

/** The largest sealed body a decoder accepts for a set's chunk size. */
export function maxSealedBytes(chunkSize: number): number {
  // codec byte, padded length field (format/padding.ts), the chunk, the tag
  return 1 + 4 + chunkSize + TAG_BYTES;
}

/** The largest whole frame (length prefix and sealed body) of a data chunk. */
export function maxFrameBytes(chunkSize: number): number {
  return FRAME_PREFIX_BYTES + maxSealedBytes(chunkSize);
}
