/**
 * A local file's bytes as a ByteSource: positional reads of up to READ_BYTES
 * into buffers that come back through `recycle`, with the next read already
 * in flight while the caller works on the last. fs.ReadStream took a fresh
 * 1 MiB buffer for every read: reusing them took a quarter of a 2 GiB
 * restore's page faults and about 7% of its CPU time (docs/PERFORMANCE.md).
 */
import type { FileHandle } from 'node:fs/promises';
import { ioError } from '../errors.js';
import type { ByteSource } from './target.js';

const READ_BYTES = 1024 * 1024;

/**
 * Read buffers shared by a target's sources, so that reading volume after
 * volume allocates nothing new. A few are kept: a reader holds one and one
 * read is in flight, and a restore reads a volume and the catalog at once.
 */
export class ReadBuffers {
  private readonly free: Buffer[] = [];
  private readonly made = new WeakSet<ArrayBufferLike>();

  constructor(private readonly keep = 4) {}

  take(): Buffer {
    const reused = this.free.pop();
    if (reused) return reused;
    const b = Buffer.allocUnsafeSlow(READ_BYTES);
    this.made.add(b.buffer);
    return b;
  }

  /** Only buffers made here come back; the caller holds no view of `b` any more. */
  give(b: Uint8Array): void {
    if (this.made.has(b.buffer) && this.free.length < this.keep) this.free.push(Buffer.from(b.buffer, 0, READ_BYTES));
  }
}

export class FileBytes implements ByteSource {
  /** `end`: exclusive; the handle is closed when iteration ends, however it ends. */
  constructor(
    private readonly handle: FileHandle,
    private position: number,
    private readonly end: number,
    private readonly buffers: ReadBuffers,
    private readonly where: { path: string; volume: string },
  ) {}

  /** Hands a buffer this source yielded back for reuse: the caller must hold no view of it any more. */
  recycle(b: Uint8Array): void {
    this.buffers.give(b);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let next = this.readAhead();
    try {
      for (;;) {
        const b = await next;
        if (!b) return;
        next = this.readAhead();
        yield b;
      }
    } finally {
      // Never close the descriptor under a read still in flight: its number could be reused meanwhile.
      const unread = await next.catch(() => null);
      if (unread) this.buffers.give(unread);
      await this.handle.close();
    }
  }

  /** The next read, started now; its failure is observed when it is awaited, never left unhandled. */
  private readAhead(): Promise<Buffer | null> {
    const p = this.read();
    p.catch(() => {});
    return p;
  }

  private async read(): Promise<Buffer | null> {
    const want = Math.min(READ_BYTES, this.end - this.position);
    if (want <= 0) return null;
    const b = this.buffers.take();
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(b, 0, want, this.position));
    } catch (err) {
      throw ioError('read', this.where.path, err, { volume: this.where.volume });
    }
    if (bytesRead === 0) {
      this.buffers.give(b);
      return null;
    }
    this.position += bytesRead;
    return b.subarray(0, bytesRead);
  }
}
