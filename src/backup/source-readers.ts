/**
 * Runs source-jobs.ts batches on a thread of their own, so the source tree
 * is lstat'ed and read while the main thread packs and seals. One thread,
 * which takes the batches in the order they are sent: a second one measured
 * about 13 MiB more resident memory, which the 256 MiB budget does not have,
 * and on two cores no more CPU to run on. It does leave one read in flight
 * at a time (docs/PERFORMANCE.md). Without the compiled thread script (tests
 * that import src/ directly) the batches run in-process.
 *
 * The thread starts with the first batch and keeps the process alive only
 * while a batch is in flight; if it fails, every batch in flight and after
 * it fails.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { runSourceJob } from './source-jobs.js';
import type { FileRead, SourceAnswer, SourceJob, StatResult } from './source-jobs.js';

export interface SourceReader {
  lstat(paths: string[]): Promise<StatResult[]>;
  /** Reads file i into `into` at `offsets[i]`, at most `sizes[i]` bytes. */
  read(paths: string[], sizes: number[], offsets: number[], into: SharedArrayBuffer): Promise<FileRead[]>;
}

export interface SourceReaders extends SourceReader {
  /** Stops the thread without waiting for it. */
  close(): void;
}

const THREAD_SCRIPT = new URL('./source-thread.js', import.meta.url);

export const inProcessReader: SourceReader = {
  lstat: async (paths) => statsOf(runSourceJob({ op: 'lstat', paths })),
  read: async (paths, sizes, offsets, into) => readsOf(runSourceJob({ op: 'read', paths, sizes, offsets, into })),
};

export function sourceReaders(): SourceReaders {
  const script = fileURLToPath(THREAD_SCRIPT);
  if (!existsSync(script)) return { ...inProcessReader, close: () => {} };
  return new SourceThread(script);
}

function statsOf(a: SourceAnswer): StatResult[] {
  if (a.op !== 'lstat') throw new Error('source thread answered an lstat batch with something else');
  return a.stats;
}

function readsOf(a: SourceAnswer): FileRead[] {
  if (a.op !== 'read') throw new Error('source thread answered a read batch with something else');
  return a.files;
}

class SourceThread implements SourceReaders {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve(a: SourceAnswer): void; reject(e: Error): void }>();
  private nextId = 0;
  private failed: Error | undefined;
  private closed = false;

  constructor(private readonly script: string) {}

  lstat(paths: string[]): Promise<StatResult[]> {
    return this.submit({ op: 'lstat', paths }).then(statsOf);
  }

  read(paths: string[], sizes: number[], offsets: number[], into: SharedArrayBuffer): Promise<FileRead[]> {
    return this.submit({ op: 'read', paths, sizes, offsets, into }).then(readsOf);
  }

  close(): void {
    this.closed = true;
    this.fail(new Error('source reader closed'));
    if (this.worker) {
      this.worker.unref();
      void this.worker.terminate().catch(() => {});
    }
  }

  private submit(job: SourceJob): Promise<SourceAnswer> {
    if (this.failed) return Promise.reject(this.failed);
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    const answer = new Promise<SourceAnswer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) worker.ref();
    worker.postMessage({ id, job });
    return answer;
  }

  private start(): Worker {
    const w = new Worker(this.script);
    w.on('message', (m: { id: number; answer?: SourceAnswer; error?: string }) => this.done(m));
    w.on('error', (err) => this.fail(err));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`source thread exited with code ${code}`));
    });
    return w;
  }

  private done(m: { id: number; answer?: SourceAnswer; error?: string }): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (!p) return;
    if (m.answer) p.resolve(m.answer);
    else p.reject(new Error(m.error ?? 'source thread failed'));
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.worker?.unref();
  }
}
