/**
 * Seals chunks into frames. One key per volume (HKDF from the data key), the
 * chunk's set-wide index as nonce, and a refusal to seal twice with the same
 * key and nonce: indexes must rise within a volume, which the volume writer
 * guarantees and this class enforces.
 */
import type { Aead } from '../crypto/aead.js';
import { volumeKey } from '../crypto/kdf.js';
import { chunkAad, chunkNonce, framePrefix } from '../format/chunk.js';
import type { ChunkFlag } from '../format/chunk.js';

export class ChunkSealer {
  private keyVolume = -1;
  private key: Buffer = Buffer.alloc(0);
  private lastChunk = -1;

  constructor(
    private readonly aead: Aead,
    private readonly dataKey: Buffer,
    private readonly setId: Buffer,
  ) {}

  /** Returns the whole frame: length prefix and sealed body. */
  seal(volumeIndex: number, chunkIndex: number, flag: ChunkFlag, codec: number, data: Uint8Array): Buffer {
    if (volumeIndex !== this.keyVolume) {
      if (volumeIndex < this.keyVolume) throw new Error(`refusing to reuse the key of volume ${volumeIndex}`);
      this.key = volumeKey(this.dataKey, this.setId, volumeIndex);
      this.keyVolume = volumeIndex;
      this.lastChunk = -1;
    }
    if (chunkIndex <= this.lastChunk) throw new Error(`refusing to reuse nonce ${chunkIndex} in volume ${volumeIndex}`);
    this.lastChunk = chunkIndex;
    const plaintext = Buffer.concat([Buffer.of(codec), data]);
    const sealed = this.aead.seal(this.key, chunkNonce(chunkIndex), plaintext, chunkAad(this.setId, volumeIndex, chunkIndex, flag));
    return Buffer.concat([framePrefix(sealed.length), sealed]);
  }
}
