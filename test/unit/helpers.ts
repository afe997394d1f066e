// Shared helpers for the unit tests (not a test file itself).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Warnings } from '../../src/report.js';
import { silentLogger } from '../../src/log.js';
import type { CatalogEntry } from '../../src/format/catalog.js';
import type { CatalogCursor } from '../../src/restore/catalog-reader.js';

/** Deterministic bytes and integers (mulberry32), so a failure can be replayed. */
export function seededRandom(seed: number) {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int(maxExclusive: number): number {
      return Math.floor(next() * maxExclusive);
    },
    bytes(n: number): Buffer {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
}

export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `coffer-unit-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function newWarnings(): Warnings {
  return new Warnings(silentLogger);
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of source) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

export async function* fromPieces(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of pieces) yield p;
}

/** Slices a buffer into pieces of `size` bytes (the last may be shorter). */
export function slices(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

/**
 * Whether an external tool can run. Locally a missing tool skips the tests
 * that need it; under CI (process.env.CI set) it must be there, so the check
 * fails instead of skipping (STYLE.md point 14/15).
 */
export function toolAvailable(cmd: string, args: string[] = ['--version']): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const inCI = Boolean(process.env.CI);

/** Catalog entries from anywhere as the cursor untar reads a stored catalog through. */
export function cursorOf(entries: AsyncIterable<CatalogEntry>): CatalogCursor {
  const it = entries[Symbol.asyncIterator]();
  return {
    next: () => it.next().then((r) => (r.done ? null : r.value)),
    close: async () => {
      await it.return?.(undefined);
    },
  };
}
