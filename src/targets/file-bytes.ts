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
/** Free buffers kept: the caller holds one and one read is in flight, so more than two never help. */
const KEEP_FREE = 2;

export class FileBytes implements ByteSource {
  private readonly free: Buffer[] = [];
  private readonly mine = new WeakSet<ArrayBufferLike>();

  /** `end`: exclusive; the handle is closed when iteration ends, however it ends. */
  constructor(
    private readonly handle: FileHandle,
    private position: number,
    private readonly end: number,
    private readonly where: { path: string; volume: string },
  ) {}

  /** Hands a buffer this source yielded back for reuse: the caller must hold no view of it any more. */
  recycle(b: Uint8Array): void {
    if (this.mine.has(b.buffer) && this.free.length < KEEP_FREE) this.free.push(Buffer.from(b.buffer, 0, READ_BYTES));
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
      await next.catch(() => {});
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
    const b = this.free.pop() ?? this.fresh();
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(b, 0, want, this.position));
    } catch (err) {
      throw ioError('read', this.where.path, err, { volume: this.where.volume });
    }
    if (bytesRead === 0) {
      this.free.push(b);
      return null;
    }
    this.position += bytesRead;
    return b.subarray(0, bytesRead);
  }

  private fresh(): Buffer {
    const b = Buffer.allocUnsafeSlow(READ_BYTES);
    this.mine.add(b.buffer);
    return b;
  }
}
