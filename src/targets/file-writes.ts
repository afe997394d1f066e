/**
 * How a put's bytes reach its temporary file: with O_DIRECT through two
 * aligned stages, or through the page cache where O_DIRECT is not to be had.
 * Either way `finish` returns only once the bytes are on disk.
 */
import type { FileHandle } from 'node:fs/promises';
import { DIRECT_ALIGNMENT } from './direct-io.js';

/**
 * Through the page cache, what was written so far is flushed in the
 * background every FLUSH_BYTES: with plenty of memory the kernel would
 * otherwise keep a whole volume dirty until the final fsync, and the put
 * would wait for all of it to reach the disk there.
 */
const FLUSH_BYTES = 64 * 1024 * 1024;

export interface FileWrites {
  write(chunk: Uint8Array): Promise<void>;
  /** Writes what is left and fsyncs; the file's size. */
  finish(): Promise<number>;
  /** Waits for whatever is still in flight, however the put ended: only then may the file be closed and the stages reused. */
  settle(): Promise<void>;
}

/**
 * One stage fills while the other is being written. The last block is
 * padded to the alignment O_DIRECT needs, and the file then truncated to its
 * true size.
 */
export class DirectWrites implements FileWrites {
  private stage = 0;
  private filled = 0;
  private position = 0;
  private size = 0;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly stages: Buffer[],
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const into = this.stages[this.stage]!;
      const n = Math.min(into.length - this.filled, chunk.length - off);
      into.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === into.length) await this.flush(into.length);
    }
    this.size += chunk.length;
  }

  async finish(): Promise<number> {
    const padded = this.filled > 0;
    if (padded) {
      const length = Math.ceil(this.filled / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
      this.stages[this.stage]!.fill(0, this.filled, length);
      await this.flush(length);
    }
    await this.writing;
    if (padded) await this.handle.truncate(this.size);
    await this.handle.sync();
    return this.size;
  }

  async settle(): Promise<void> {
    await this.writing?.catch(() => {});
  }

  /** Starts writing the current stage once the other one's write is done; a failure of either is thrown by the next flush or by finish. */
  private async flush(length: number): Promise<void> {
    await this.writing;
    const p = writeAll(this.handle, this.stages[this.stage]!, length, this.position);
    p.catch(() => {});
    this.writing = p;
    this.position += length;
    this.stage ^= 1;
    this.filled = 0;
  }
}

export class BufferedWrites implements FileWrites {
  private size = 0;
  private unflushed = 0;
  private flushing: Promise<void> | undefined;

  constructor(private readonly handle: FileHandle) {}

  async write(chunk: Uint8Array): Promise<void> {
    await writeAll(this.handle, chunk, chunk.length, null);
    this.size += chunk.length;
    this.unflushed += chunk.length;
    if (this.unflushed >= FLUSH_BYTES && !this.flushing) {
      this.unflushed = 0;
      // Not awaited: writing goes on while the disk catches up. A failure stays in `flushing` and is thrown by finish.
      this.flushing = this.handle.datasync().then(() => {
        this.flushing = undefined;
      });
      this.flushing.catch(() => {});
    }
  }

  async finish(): Promise<number> {
    await this.flushing;
    await this.handle.sync();
    return this.size;
  }

  async settle(): Promise<void> {
    await this.flushing?.catch(() => {});
  }
}

/** `position` null: at the file's current offset. */
async function writeAll(handle: FileHandle, b: Uint8Array, length: number, position: number | null): Promise<void> {
  let off = 0;
  while (off < length) {
    const { bytesWritten } = await handle.write(b, off, length - off, position === null ? null : position + off);
    off += bytesWritten;
  }
}
