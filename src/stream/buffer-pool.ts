/**
 * Buffers of one size kept for reuse. A backup moves every byte through a
 * tar piece and a sealed frame of about a chunk each; allocating those anew
 * costs page faults and zeroing on every chunk, and the dead ones wait for
 * a garbage collection that, for memory outside the JavaScript heap, comes
 * only after tens of MiB per thread (docs/PERFORMANCE.md, "Memory").
 *
 * Only memory nothing else can still see may be given back: a buffer
 * transferred back from a worker, or one a target has released.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  /** `keep`: at most this many are held; more are left to the garbage collector. */
  constructor(readonly size: number, private readonly keep: number) {}

  /** A buffer of `size` bytes, contents undefined. */
  take(): Buffer {
    const reused = this.free.pop();
    return reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(this.size);
  }

  /** Gives back the memory under `view`, if it is one of this pool's size and not shared. */
  give(view: Uint8Array): void {
    const memory = view.buffer;
    if (memory instanceof ArrayBuffer && memory.byteLength === this.size && this.free.length < this.keep) this.free.push(memory);
  }
}
