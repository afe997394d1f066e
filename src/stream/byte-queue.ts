/**
 * Buffers handed from a writer to a reader that pulls them with `for await`,
 * each exactly as it was pushed. (A PassThrough's reader is given everything
 * queued joined into one new buffer, a copy of every byte that waited.)
 *
 * `push` says when more than `limit` bytes wait; the writer then awaits
 * `room()`, which resolves once the reader has taken enough. A reader that
 * stops (returns or throws) never makes room again: the writer learns why from
 * whatever the reader reports, not from the queue.
 *
 * A reader is done with a buffer once it pulls the next one (the Target
 * contract, targets/target.ts); `released` is then told, so the writer can
 * reuse its memory. Buffers a stopped reader held are never released.
 */
export class ByteQueue implements AsyncIterable<Uint8Array> {
  private readonly items: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private stopped = false;
  private failure: { error: Error } | undefined;
  private readerWaiting: (() => void) | undefined;
  private writerWaiting: (() => void) | undefined;

  constructor(private readonly limit: number, private readonly released?: (bytes: Uint8Array) => void) {}

  /** Queues bytes; false when more than the limit now waits. */
  push(bytes: Uint8Array): boolean {
    if (this.stopped) return false;
    this.items.push(bytes);
    this.queued += bytes.length;
    this.wakeReader();
    return this.queued <= this.limit;
  }

  room(): Promise<void> {
    if (!this.stopped && this.queued <= this.limit) return Promise.resolve();
    return new Promise((resolve) => (this.writerWaiting = resolve));
  }

  /** No more bytes: the reader finishes once it has taken what is queued. */
  end(): void {
    this.ended = true;
    this.wakeReader();
  }

  /** The reader throws `error` at its next pull, whatever is still queued. */
  destroy(error: Error): void {
    this.failure ??= { error };
    this.wakeReader();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      while (true) {
        if (this.failure) throw this.failure.error;
        const next = this.items.shift();
        if (next) {
          this.queued -= next.length;
          if (this.queued <= this.limit) this.wakeWriter();
          yield next;
          this.released?.(next);
        } else if (this.ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (this.readerWaiting = resolve));
        }
      }
    } finally {
      this.stopped = true;
      this.items.length = 0;
    }
  }

  private wakeReader(): void {
    const wake = this.readerWaiting;
    this.readerWaiting = undefined;
    wake?.();
  }

  private wakeWriter(): void {
    const wake = this.writerWaiting;
    this.writerWaiting = undefined;
    wake?.();
  }
}
