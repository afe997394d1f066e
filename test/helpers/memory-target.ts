/**
 * A Target over a map of objects in memory: enough for the writers (put) and
 * readers (get) in tests that need no disk. `slice` feeds reads in pieces of
 * that many bytes (0: whole), so frames and headers straddle reads the way
 * they do on a real device.
 */
import { Readable } from 'node:stream';
import { TargetError } from '../../src/errors.js';
import type { Target } from '../../src/targets/target.js';

export class MemoryTarget implements Target {
  readonly display = 'memory';
  readonly props = { sequential: false, atomicPut: true, connections: 1 };
  constructor(
    readonly objects: Map<string, Buffer> = new Map(),
    private readonly slice = 0,
  ) {}

  async put(name: string, source: AsyncIterable<Uint8Array>): Promise<{ size: number }> {
    const parts: Buffer[] = [];
    for await (const b of source) parts.push(Buffer.from(b));
    const all = Buffer.concat(parts);
    this.objects.set(name, all);
    return { size: all.length };
  }

  async get(name: string, range?: { start: number; end?: number }): Promise<Readable> {
    const all = this.objects.get(name);
    if (!all) throw new TargetError('not-found', `${name} not found`);
    const b = all.subarray(range?.start ?? 0, range?.end ?? all.length);
    // At most about 20,000 pieces: 7-byte pieces of a 12 MB catalog would measure V8's garbage, not the reader.
    const step = this.slice > 0 ? Math.max(this.slice, Math.ceil(b.length / 20_000)) : Math.max(b.length, 1);
    // Lazily: a reader that stops early (or reads a byte at a time) must not pay for the whole object here.
    return Readable.from((function* () {
      for (let at = 0; at < b.length; at += step) yield b.subarray(at, at + step);
    })());
  }

  async size(name: string): Promise<number | undefined> {
    return this.objects.get(name)?.length;
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async remove(name: string): Promise<void> {
    this.objects.delete(name);
  }
}
