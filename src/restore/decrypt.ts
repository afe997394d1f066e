/**
 * Opens sealed chunks: the counterpart of backup/encrypt.ts. The flag is not
 * stored in the frame; it is recovered by trying the flags the frame's
 * length allows (end chunks are always empty), so a chunk presented with the
 * wrong role fails authentication. Decompression is capped at the chunk size.
 */
import type { Aead } from '../crypto/aead.js';
import { volumeKey } from '../crypto/kdf.js';
import { chunkAad, chunkNonce, ChunkFlag, END_SEALED_BYTES } from '../format/chunk.js';

export interface OpenedChunk {
  flag: ChunkFlag;
  codec: number;
  data: Buffer;
}

/** What opening one data frame needs, so it can be done away from the opener (on a worker). */
export interface DataFrameParams {
  key: Buffer;
  nonce: Buffer;
  aad: Buffer;
}

export class ChunkOpener {
  private keys = new Map<number, Buffer>();

  constructor(
    private readonly aead: Aead,
    private readonly dataKey: Buffer,
    private readonly setId: Buffer,
  ) {}

  private key(volumeIndex: number): Buffer {
    let k = this.keys.get(volumeIndex);
    if (!k) {
      if (this.keys.size > 4) this.keys.clear();
      k = volumeKey(this.dataKey, this.setId, volumeIndex);
      this.keys.set(volumeIndex, k);
    }
    return k;
  }

  dataFrame(volumeIndex: number, chunkIndex: number): DataFrameParams {
    return { key: this.key(volumeIndex), nonce: chunkNonce(chunkIndex), aad: chunkAad(this.setId, volumeIndex, chunkIndex, ChunkFlag.data) };
  }

  open(volumeIndex: number, chunkIndex: number, sealed: Buffer): OpenedChunk | undefined {
    const flags = sealed.length === END_SEALED_BYTES ? [ChunkFlag.endOfSet, ChunkFlag.endOfVolume] : [ChunkFlag.data];
    const key = this.key(volumeIndex);
    const nonce = chunkNonce(chunkIndex);
    for (const flag of flags) {
      const plain = this.aead.open(key, nonce, sealed, chunkAad(this.setId, volumeIndex, chunkIndex, flag));
      // An end chunk is exactly one codec byte, 0 (its length is fixed above).
      if (plain && plain.length >= 1 && (flag === ChunkFlag.data || plain[0] === 0)) return { flag, codec: plain[0]!, data: plain.subarray(1) };
    }
    return undefined;
  }
}
