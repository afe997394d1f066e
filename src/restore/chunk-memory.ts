/**
 * The memory restore and keyed verify move chunks through, reused. Each
 * chunk was read into a frame of its own, then decompressed into another
 * buffer: about 3 MiB of new memory per MiB of tar on the main thread, which
 * V8 only frees at a full collection. With small files those came every
 * 150 ms, and the dead buffers between them pushed a restore of 100,000
 * files past 256 MiB (docs/PERFORMANCE.md, "Memory").
 *
 * Every buffer is big enough for a sealed frame or a whole plaintext chunk.
 * A frame is read into one, and the decode job is given a second to
 * decompress into (parallel/pool.ts): what the job does not use comes back
 * at once; the plaintext comes back when the tar reader has released every
 * view of it that was handed out (stream/byte-reader.ts).
 */
import { maxSealedBytes } from '../format/chunk.js';
import { BufferPool } from '../stream/buffer-pool.js';

export class ChunkMemory {
  private readonly pool: BufferPool;
  /** Views handed to the tar reader and not yet released, by the memory they are in. */
  private readonly lent = new Map<ArrayBufferLike, number>();

  /** `keep`: buffers held for reuse at most. */
  constructor(chunkSize: number, keep: number) {
    this.pool = new BufferPool(maxSealedBytes(chunkSize), keep);
  }

  take(): Buffer {
    return this.pool.take();
  }

  /** Memory nothing refers to any more; kept if it is one of these buffers. */
  give(memory: Uint8Array): void {
    if (!this.lent.has(memory.buffer)) this.pool.give(memory);
  }

  /** Counts a view handed to the tar reader: its memory is not reused before the view is released. */
  lend(view: Buffer): Buffer {
    this.lent.set(view.buffer, (this.lent.get(view.buffer) ?? 0) + 1);
    return view;
  }

  /** The tar reader is done with a view; its memory is reused once no other view of it is out. */
  released(view: Uint8Array): void {
    const left = this.lent.get(view.buffer);
    if (left === undefined) return;
    if (left > 1) {
      this.lent.set(view.buffer, left - 1);
      return;
    }
    this.lent.delete(view.buffer);
    this.pool.give(view);
  }
}
