/**
 * Exact-length reads over an async byte stream, for parsing framed formats
 * without holding more than the frame being read.
 */
export class ByteReader {
  private parts: Buffer[] = [];
  private held = 0;
  private done = false;
  /** Bytes consumed so far. */
  position = 0;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>, private readonly onBytes?: (b: Buffer) => void) {
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

  /** Returns exactly n bytes, or fewer only when the stream ends first. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const take = Math.min(n, this.held);
    let out: Buffer;
    if (this.parts.length && this.parts[0]!.length >= take) {
      out = this.parts[0]!.subarray(0, take);
      this.parts[0] = this.parts[0]!.subarray(take);
      if (this.parts[0].length === 0) this.parts.shift();
    } else {
      // Exactly `take` bytes in a buffer of their own, so a frame can be transferred to a worker as it is;
      // the rest stays a view of the part it is in, not a copy.
      out = Buffer.allocUnsafeSlow(take);
      let filled = 0;
      while (filled < take) {
        const part = this.parts[0]!;
        const n = Math.min(part.length, take - filled);
        part.copy(out, filled, 0, n);
        filled += n;
        if (n === part.length) this.parts.shift();
        else this.parts[0] = part.subarray(n);
      }
    }
    this.held -= take;
    this.position += take;
    return out;
  }

  /** Returns 1 to n bytes of what comes next, never copying (n > 0); empty only at the end of the stream. */
  async readSome(n: number): Promise<Buffer> {
    await this.fill(1);
    const first = this.parts[0];
    if (!first) return Buffer.alloc(0);
    const out = first.subarray(0, n);
    if (out.length === first.length) this.parts.shift();
    else this.parts[0] = first.subarray(out.length);
    this.held -= out.length;
    this.position += out.length;
    return out;
  }

  async atEnd(): Promise<boolean> {
    await this.fill(1);
    return this.held === 0;
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
    this.done = true;
  }
}
