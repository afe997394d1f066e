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
  private parts: Buffer[] = [];
  /** The source's buffers, parallel to `parts` (which are what is left of each). */
  private origins: Buffer[] = [];
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
      this.origins.push(b);
      this.held += b.length;
    }
  }

  /** Takes `n` bytes off the first part (at most all of it), returning a view of them. */
  private take(n: number): Buffer {
    const part = this.parts[0]!;
    const out = part.subarray(0, n);
    this.held -= out.length;
    this.position += out.length;
    if (out.length < part.length) {
      this.parts[0] = part.subarray(out.length);
    } else {
      this.parts.shift();
      const origin = this.origins.shift()!;
      if (this.released) this.spent.push(origin);
    }
    return out;
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
    if (!into && (want === 0 || this.parts[0]!.length >= want)) return want ? this.take(want) : Buffer.alloc(0);
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
