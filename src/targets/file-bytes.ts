/**
 * A local file's bytes as a ByteSource: positional reads of up to READ_BYTES
 * into buffers that come back through `recycle`, with the next read already
 * in flight while the caller works on the last (several with O_DIRECT).
 * fs.ReadStream took a fresh 1 MiB buffer for every read: reusing them took
 * a quarter of a 2 GiB restore's page faults and about 7% of its CPU time
 * (docs/PERFORMANCE.md).
 *
 * A file opened with O_DIRECT is read at aligned offsets into aligned
 * buffers. Once a caller has handed a buffer back, it is given aligned
 * buffers themselves and hands them back as it does the others. Until then,
 * and whenever the aligned buffers are all taken, a read lands in the
 * source's own aligned buffer and is copied into a plain one: a caller that
 * keeps what it is given never holds on to the few aligned buffers there are.
 */
import type { FileHandle } from 'node:fs/promises';
import { ioError } from '../errors.js';
import { DIRECT_ALIGNMENT, type AlignedBuffers } from './direct-io.js';
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

/**
 * Reads in flight at once from a file opened with O_DIRECT, for a caller lent
 * aligned buffers. Such a read waits for the disk, where one through the page
 * cache is a copy: with one read ahead, a 2 GiB restore's main thread waited
 * about a second in all for its volumes (docs/PERFORMANCE.md, "Direct I/O for
 * volumes").
 */
const DIRECT_READS_AHEAD = 4;

export class FileBytes implements ByteSource {
  /** Where the next read starts; reads are positioned when they are issued, so several can be in flight. */
  private issued: number;
  /** A read came back short: the file ends there. */
  private ended = false;
  /** Whether the caller hands buffers back: only then is it lent aligned ones. */
  private recycles = false;
  private landingBusy = false;

  /** `end`: exclusive; the handle is closed when iteration ends, however it ends. */
  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly end: number,
    private readonly buffers: ReadBuffers,
    private readonly where: { path: string; volume: string },
    /** Set when the handle was opened with O_DIRECT: the pool of aligned buffers, and one of them this source holds until reading ends. */
    private readonly direct?: { landing: Buffer; aligned: AlignedBuffers },
  ) {
    this.issued = start;
  }

  /** Hands a buffer this source yielded back for reuse: the caller must hold no view of it any more. */
  recycle(b: Uint8Array): void {
    this.recycles = true;
    if (!this.direct?.aligned.give(b)) this.buffers.give(b);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const ahead: Promise<Buffer | null>[] = [];
    const fill = () => {
      const depth = this.direct && this.recycles ? DIRECT_READS_AHEAD : 1;
      while (ahead.length < depth) {
        const p = this.issue();
        if (!p) break;
        p.catch(() => {}); // observed when awaited, never left unhandled
        ahead.push(p);
      }
    };
    try {
      fill();
      for (let next = ahead.shift(); next; next = ahead.shift()) {
        const b = await next;
        if (!b) return;
        fill();
        yield b;
      }
    } finally {
      // Never close the descriptor under a read still in flight: its number could be reused meanwhile.
      for (const p of ahead) {
        const unread = await p.catch(() => null);
        if (unread) this.recycle(unread);
      }
      if (this.direct) this.direct.aligned.give(this.direct.landing);
      await this.handle.close();
    }
  }

  /** Starts the next read, or returns undefined when there is none to start now. */
  private issue(): Promise<Buffer | null> | undefined {
    const position = this.issued;
    if (this.ended || position >= this.end) return undefined;
    if (!this.direct) {
      const want = Math.min(READ_BYTES, this.end - position);
      this.issued += want;
      return this.readPlain(position, want);
    }
    const { landing, aligned } = this.direct;
    const lent = this.recycles ? aligned.take(1)?.[0] : undefined;
    if (!lent && this.landingBusy) return undefined;
    const into = lent ?? landing;
    const skip = position % DIRECT_ALIGNMENT;
    // A read into the landing buffer is copied into a plain one, of READ_BYTES.
    const want = Math.min(into.length - skip, lent ? Infinity : READ_BYTES, this.end - position);
    this.issued += want;
    if (!lent) this.landingBusy = true;
    return this.readDirect(position, want, lent).finally(() => {
      if (!lent) this.landingBusy = false;
    });
  }

  private async readPlain(position: number, want: number): Promise<Buffer | null> {
    const b = this.buffers.take();
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(b, 0, want, position));
    } catch (err) {
      throw ioError('read', this.where.path, err, { volume: this.where.volume });
    }
    if (bytesRead < want) this.ended = true;
    if (bytesRead === 0) {
      this.buffers.give(b);
      return null;
    }
    return b.subarray(0, bytesRead);
  }

  /** Reads whole aligned blocks, from the aligned offset at or before `position`, and returns the `want` bytes at `position` (fewer at the end). */
  private async readDirect(position: number, want: number, lent: Buffer | undefined): Promise<Buffer | null> {
    const { landing, aligned } = this.direct!;
    const into = lent ?? landing;
    const skip = position % DIRECT_ALIGNMENT;
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(into, 0, into.length, position - skip));
    } catch (err) {
      if (lent) aligned.give(lent);
      throw ioError('read', this.where.path, err, { volume: this.where.volume });
    }
    const n = Math.max(0, Math.min(bytesRead - skip, want));
    if (n < want) this.ended = true;
    if (n === 0) {
      if (lent) aligned.give(lent);
      return null;
    }
    if (lent) return lent.subarray(skip, skip + n);
    const b = this.buffers.take();
    landing.copy(b, 0, skip, skip + n);
    return b.subarray(0, n);
  }
}
