/**
 * Seals chunks into frames. One key per volume (HKDF from the data key), the
 * chunk's set-wide index as nonce, and a refusal to hand out the same key and
 * nonce twice: indexes must rise within a volume and volumes never go back.
 * Every (volume, index) pair is claimed from a ChunkSealer before it is
 * sealed, whether the sealer seals it itself (the catalog, end chunks) or
 * hands what sealing needs to a worker (a volume's data chunks, see
 * seal-chunk.ts).
 *
 * A frame is one buffer laid out as it is stored: the plaintext is written
 * where the ciphertext goes and sealed there, so no frame is assembled from
 * pieces.
 */
import type { Aead } from '../crypto/aead.js';
import { volumeKey } from '../crypto/kdf.js';
import { chunkAad, chunkNonce, FRAME_PREFIX_BYTES, TAG_BYTES } from '../format/chunk.js';
import type { ChunkFlag } from '../format/chunk.js';

/** What sealing one chunk needs: its volume's key, its nonce and its additional data. */
export interface SealParams {
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
}

/**
 * Seals the `plainLength` bytes of plaintext that `frame` holds after its
 * length prefix, writes the prefix and the tag after the ciphertext, and
 * returns the whole frame (`frame` needs TAG_BYTES of room after the plaintext).
 */
export function sealFrameInPlace(aead: Aead, frame: Buffer, plainLength: number, p: SealParams): Buffer {
  const end = FRAME_PREFIX_BYTES + plainLength;
  frame.writeUInt32BE(plainLength + TAG_BYTES, 0);
  aead.sealInPlace(p.key, p.nonce, frame.subarray(FRAME_PREFIX_BYTES, end), p.aad).copy(frame, end);
  return frame.subarray(0, end + TAG_BYTES);
}

/** The frame of a codec byte and `data`. */
export function sealFrame(aead: Aead, p: SealParams, codec: number, data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + 1 + data.length + TAG_BYTES);
  frame[FRAME_PREFIX_BYTES] = codec;
  frame.set(data, FRAME_PREFIX_BYTES + 1);
  return sealFrameInPlace(aead, frame, 1 + data.length, p);
}

export class ChunkSealer {
  private keyVolume = -1;
  private key: Buffer = Buffer.alloc(0);
  private lastChunk = -1;

  constructor(
    private readonly aead: Aead,
    private readonly dataKey: Buffer,
    private readonly setId: Buffer,
  ) {}

  /** Claims a (volume, chunk) pair, refusing any pair that could repeat a nonce under a key, and returns what sealing it needs. */
  claim(volumeIndex: number, chunkIndex: number, flag: ChunkFlag): SealParams {
    if (volumeIndex !== this.keyVolume) {
      if (volumeIndex < this.keyVolume) throw new Error(`refusing to reuse the key of volume ${volumeIndex}`);
      this.key = volumeKey(this.dataKey, this.setId, volumeIndex);
      this.keyVolume = volumeIndex;
      this.lastChunk = -1;
    }
    if (chunkIndex <= this.lastChunk) throw new Error(`refusing to reuse nonce ${chunkIndex} in volume ${volumeIndex}`);
    this.lastChunk = chunkIndex;
    return { key: this.key, nonce: chunkNonce(chunkIndex), aad: chunkAad(this.setId, volumeIndex, chunkIndex, flag) };
  }

  /** Claims the pair and returns the whole frame: length prefix and sealed body. */
  seal(volumeIndex: number, chunkIndex: number, flag: ChunkFlag, codec: number, data: Uint8Array): Buffer {
    return sealFrame(this.aead, this.claim(volumeIndex, chunkIndex, flag), codec, data);
  }
}
