/**
 * Runs source-jobs.ts batches on two threads of their own, so the source
 * tree is lstat'ed and read while the main thread packs and seals, with two
 * system calls in flight. Each thread makes its calls one at a time, which
 * on a warm cache is all it takes, but on a cold one leaves the disk
 * waiting between them: a 100,000-file backup from a cold cache took 9.1 s
 * with one thread and 6.6 s with two (5.5-6.0 s with four, for 33 MiB more
 * resident memory; each thread costs about 12-16 MiB). On a warm cache it
 * took 2.96 s with two against 2.91 s (docs/PERFORMANCE.md, "Two source
 * threads").
 *
 * A batch of small files is split between the threads, one run of the
 * walk order each, the first to the thread with the fewest batches
 * waiting; an lstat batch goes to that thread whole. Streams (large files)
 * all go to the first thread, which holds their descriptors and hashes and
 * takes their parts in the order asked: they are read sequentially, which
 * the kernel reads ahead for anyway, and a backup of large files alone then
 * never starts the second thread (about 3% of a 2 GiB backup's time when
 * it did). Without the compiled thread script (tests that import src/
 * directly) the batches run in-process.
 *
 * A thread starts with the first batch sent to it and keeps the process
 * alive only while it has a batch in flight; if it fails, every batch in
 * flight and after it on that thread fails.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { runSourceJob } from './source-jobs.js';
import type { CallFailure, FileRead, PartRead, SourceAnswer, SourceJob, StatResult, StreamEnd } from './source-jobs.js';

export interface SourceReader {
  lstat(paths: string[]): Promise<StatResult[]>;
  /** Reads file i into `into` at `offsets[i]`, at most `sizes[i]` bytes. */
  read(paths: string[], sizes: number[], offsets: number[], into: SharedArrayBuffer): Promise<FileRead[]>;
  /** Opens a file to stream (a large one): its stream number, or why it cannot be opened. */
  open(path: string): Promise<{ stream: number } | { openFailure: CallFailure }>;
  /**
   * Reads the stream's next `length` bytes into `into` at `at`. Parts are
   * read in the order asked, so several can be asked for before the first
   * is answered.
   */
  part(stream: number, length: number, into: SharedArrayBuffer, at: number): Promise<PartRead>;
  /** Closes the stream; `size` is what the tar holds for the file (see StreamEnd). */
  close(stream: number, size: number): Promise<StreamEnd>;
}

export interface SourceReaders extends SourceReader {
  /** Stops the thread without waiting for it. */
  stop(): void;
}

const THREAD_SCRIPT = new URL('./source-thread.js', import.meta.url);

/** The same jobs as the thread runs, answered in the order asked like the thread's. */
function jobsOf(run: (job: SourceJob) => Promise<SourceAnswer>): SourceReader {
  return {
    lstat: (paths) => run({ op: 'lstat', paths }).then(statsOf),
    read: (paths, sizes, offsets, into) => run({ op: 'read', paths, sizes, offsets, into }).then(readsOf),
    open: (path) => run({ op: 'open', path }).then(openedOf),
    part: (stream, length, into, at) => run({ op: 'part', stream, length, into, at }).then(partOf),
    close: (stream, size) => run({ op: 'close', stream, size }).then(endOf),
  };
}

export const inProcessReader: SourceReader = jobsOf(async (job) => runSourceJob(job));

/** Threads, and so system calls in flight: see above. */
const SOURCE_THREADS = 2;

export function sourceReaders(): SourceReaders {
  const script = fileURLToPath(THREAD_SCRIPT);
  if (!existsSync(script)) return { ...inProcessReader, stop: () => {} };
  const threads = Array.from({ length: SOURCE_THREADS }, () => new SourceThread(script));
  const on = threads.map((t) => jobsOf((job) => t.submit(job)));
  /** Thread numbers, the one with the fewest batches waiting first. */
  const byLoad = () => threads.map((t, i) => ({ i, n: t.inFlight })).sort((a, b) => a.n - b.n).map((t) => t.i);
  const leastBusy = () => byLoad()[0]!;
  return {
    ...on[0]!,
    lstat: (paths) => on[leastBusy()]!.lstat(paths),
    async read(paths, sizes, offsets, into) {
      const per = Math.ceil(paths.length / threads.length);
      const order = byLoad();
      const runs: Promise<FileRead[]>[] = [];
      for (let from = 0, k = 0; from < paths.length; from += per, k++) {
        runs.push(on[order[k]!]!.read(paths.slice(from, from + per), sizes.slice(from, from + per), offsets.slice(from, from + per), into));
      }
      return (await Promise.all(runs)).flat();
    },
    stop: () => threads.forEach((t) => t.stop()),
  };
}

function answerOf<Op extends SourceAnswer['op']>(a: SourceAnswer, op: Op): Extract<SourceAnswer, { op: Op }> {
  if (a.op !== op) throw new Error(`source thread answered a ${op} job with something else`);
  return a as Extract<SourceAnswer, { op: Op }>;
}

const statsOf = (a: SourceAnswer): StatResult[] => answerOf(a, 'lstat').stats;
const readsOf = (a: SourceAnswer): FileRead[] => answerOf(a, 'read').files;
const partOf = (a: SourceAnswer): PartRead => answerOf(a, 'part').part;
const endOf = (a: SourceAnswer): StreamEnd => answerOf(a, 'close').end;
function openedOf(a: SourceAnswer): { stream: number } | { openFailure: CallFailure } {
  const opened = answerOf(a, 'open');
  return 'stream' in opened ? { stream: opened.stream } : { openFailure: opened.openFailure };
}

class SourceThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve(a: SourceAnswer): void; reject(e: Error): void }>();
  private nextId = 0;
  private failed: Error | undefined;
  private closed = false;

  constructor(private readonly script: string) {}

  /** Batches sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  stop(): void {
    this.closed = true;
    this.fail(new Error('source reader closed'));
    if (this.worker) {
      this.worker.unref();
      void this.worker.terminate().catch(() => {});
    }
  }

  submit(job: SourceJob): Promise<SourceAnswer> {
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
