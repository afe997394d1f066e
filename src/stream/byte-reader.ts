/**
 * Exact-length reads over an async byte stream, for parsing framed formats
 * without holding more than the frame being read.
 *
 * A returned view is the caller's until its next call. With `released`, each
 * buffer the source gave is handed back, as it was given, once every byte of
 * it has been returned and the caller has made its next call: the source may
 * then reuse the memory (restore/chunk-memory.ts).
 */
export class ByteReader {
  /** The source's buffers not yet wholly returned, as it gave them; the first is read from `offset` on. */
  private parts: Buffer[] = [];
  private offset = 0;
  /** Buffers wholly returned, handed back at the next call. */
  private spent: Buffer[] = [];
  private held = 0;
  private done = false;
  /** Bytes consumed so far. */
  position = 0;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(
    source: AsyncIterable<Uint8Array>,
    private readonly onBytes?: (b: Buffer) => void,
    private readonly released?: (b: Buffer) => void,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.held < n && !this.done) {
      const next = await this.it.next();
      if (next.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      this.onBytes?.(b);
      if (!b.length) continue;
      this.parts.push(b);
      this.held += b.length;
    }
  }

  /** Passes over up to `n` bytes of the first part (at most all of it); returns how many. */
  private advance(n: number): number {
    const part = this.parts[0]!;
    const length = Math.min(n, part.length - this.offset);
    this.offset += length;
    this.held -= length;
    this.position += length;
    if (this.offset === part.length) {
      this.parts.shift();
      this.offset = 0;
      if (this.released) this.spent.push(part);
    }
    return length;
  }

  /** Takes `n` bytes off the first part (at most all of it), returning a view of them. */
  private take(n: number): Buffer {
    const part = this.parts[0]!;
    const start = this.offset;
    return part.subarray(start, start + this.advance(n));
  }

  private handBack(): void {
    if (!this.spent.length) return;
    const spent = this.spent;
    this.spent = [];
    for (const b of spent) this.released!(b);
  }

  /**
   * Returns exactly n bytes, or fewer only when the stream ends first.
   * Without `into`: a view of the source's buffer when they lie in one, else
   * a copy in memory of their own. With `into`: always a copy, in `into`
   * when it has room, else in memory of its own, so the result can be handed
   * over whole either way (restore/chunk-memory.ts).
   */
  async read(n: number, into?: Buffer): Promise<Buffer> {
    this.handBack();
    // Only when short: awaiting an async call costs promises and a turn even when it has nothing to do.
    if (this.held < n && !this.done) await this.fill(n);
    const want = Math.min(n, this.held);
    if (!into && (want === 0 || this.parts[0]!.length - this.offset >= want)) return want ? this.take(want) : Buffer.alloc(0);
    // Exactly `want` bytes in a buffer of their own, so a frame can be transferred to a worker as it is;
    // the rest stays a view of the part it is in, not a copy.
    const out = into && into.length >= want ? into.subarray(0, want) : Buffer.allocUnsafeSlow(want);
    for (let filled = 0; filled < want; ) filled += this.take(want - filled).copy(out, filled);
    return out;
  }

  /** Returns 1 to n bytes of what comes next, never copying (n > 0); empty only at the end of the stream. */
  async readSome(n: number): Promise<Buffer> {
    this.handBack();
    if (this.held < 1 && !this.done) await this.fill(1);
    return this.parts.length ? this.take(n) : Buffer.alloc(0);
  }

  /**
   * The same as read(n) (n > 0) when the bytes are already here in one
   * piece, without a promise; undefined otherwise, and then nothing happened.
   * A small-file restore reads three times per entry: promises were a good
   * part of its main thread's garbage.
   */
  readNow(n: number): Buffer | undefined {
    if (n === 0 || !this.parts.length || this.parts[0]!.length - this.offset < n) return undefined;
    this.handBack();
    return this.take(n);
  }

  /** The same as readSome(n) when some bytes are already here; undefined otherwise, and then nothing happened. */
  readSomeNow(n: number): Buffer | undefined {
    if (!this.parts.length) return undefined;
    this.handBack();
    return this.take(n);
  }

  /** The same as skip(n) when the bytes are already here: true; false otherwise, and then nothing happened. */
  skipNow(n: number): boolean {
    if (this.held < n) return false;
    this.handBack();
    for (let left = n; left > 0; ) left -= this.advance(left);
    return true;
  }

  /** Passes over exactly n bytes, or fewer only when the stream ends first, making no view of them; returns how many. */
  async skip(n: number): Promise<number> {
    this.handBack();
    if (this.held < n && !this.done) await this.fill(n);
    const want = Math.min(n, this.held);
    for (let left = want; left > 0; ) left -= this.advance(left);
    return want;
  }

  async atEnd(): Promise<boolean> {
    this.handBack();
    if (this.held < 1 && !this.done) await this.fill(1);
    return this.held === 0;
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
    this.done = true;
  }
}
