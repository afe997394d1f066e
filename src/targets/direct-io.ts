/**
 * Direct I/O for volumes: files opened with O_DIRECT, and memory such files
 * accept.
 *
 * Volumes are written once and read back rarely, and every put is fsynced
 * anyway, so the page cache does nothing for them but cost: the kernel copies
 * each byte into a cache page, writes it back later, and evicts what the
 * machine was using to make room (docs/DESIGN.md, "Direct I/O for volumes").
 *
 * With O_DIRECT, Linux moves a file's bytes straight between the disk and
 * the caller's buffer, and wants that buffer's address, the file offset and
 * the length aligned to the device's logical block size (512 or 4096
 * bytes). Node has no aligned allocation, but WebAssembly memory is mapped
 * whole pages at a time, so its first byte starts a page: a pool carves one
 * such memory into equal buffers. V8 reserves about 10 GiB of address space
 * (not memory) for each WebAssembly memory, so a pool makes one, once, and
 * when its buffers are all taken it offers none: the caller then goes
 * through the page cache as before.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export const DIRECT_ALIGNMENT = 4096;
export const ALIGNED_BUFFER_BYTES = 1024 * 1024;
const WASM_PAGE = 64 * 1024;

export class AlignedBuffers {
  private buffers: Buffer[] | undefined;
  private memory: ArrayBuffer | undefined;
  private readonly free: number[] = [];

  constructor(private readonly count: number) {}

  /** `n` page-aligned buffers of ALIGNED_BUFFER_BYTES, or none if fewer are free (or WebAssembly is off, as with --jitless). */
  take(n: number): Buffer[] | undefined {
    this.buffers ??= this.carve();
    if (this.free.length < n) return undefined;
    return this.free.splice(this.free.length - n, n).map((i) => this.buffers![i]!);
  }

  /**
   * Takes back the buffer `b` is a view of, once nothing reads into it or
   * holds a view of it; false if `b` is not one of these buffers. Giving one
   * back twice frees it once.
   */
  give(b: Uint8Array): boolean {
    if (this.memory === undefined || b.buffer !== this.memory) return false;
    const i = Math.floor(b.byteOffset / ALIGNED_BUFFER_BYTES);
    if (!this.free.includes(i)) this.free.push(i);
    return true;
  }

  private carve(): Buffer[] {
    if (typeof WebAssembly !== 'object') return [];
    let memory: ArrayBuffer;
    try {
      memory = new WebAssembly.Memory({ initial: (this.count * ALIGNED_BUFFER_BYTES) / WASM_PAGE }).buffer;
    } catch {
      return []; // address space limited (ulimit -v): the page cache still works
    }
    this.memory = memory;
    for (let i = this.count - 1; i >= 0; i--) this.free.push(i);
    return Array.from({ length: this.count }, (_, i) => Buffer.from(memory, i * ALIGNED_BUFFER_BYTES, ALIGNED_BUFFER_BYTES));
  }
}

/**
 * Opens `path` with O_DIRECT where its filesystem allows that, and without
 * where it does not (EINVAL: some FUSE and network filesystems, tmpfs before
 * Linux 6.6) or where the platform has no O_DIRECT.
 */
export async function openDirect(path: string, flags: number, mode?: number): Promise<{ handle: FileHandle; direct: boolean }> {
  const direct = constants.O_DIRECT;
  if (direct !== undefined) {
    try {
      return { handle: await open(path, flags | direct, mode), direct: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    }
  }
  return { handle: await open(path, flags, mode), direct: false };
}
