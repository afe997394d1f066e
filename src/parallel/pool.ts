/**
 * A pool of worker threads for per-chunk work (compress, pad and seal on backup;
 * decrypt, unpad and decompress on restore and verify). Callers bound how much is in
 * flight (stream/ordered-map.ts keeps order and applies backpressure); the
 * pool only hands each job to an idle worker. On restore the same workers
 * also write files, as lanes (restore/file-writers.ts): a thread per core,
 * not two, keeps memory down (each isolate holds its own garbage). With 0 workers, or when the
 * compiled worker script is not there (tests that import src/ directly), the
 * jobs run in-process.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { WORKER_SCRIPT, defaultWorkers, takeEarlyWorkers } from './early-workers.js';
import { asBuffer, isWhole, owned, runChunkJob } from './chunk-jobs.js';
import type { ChunkJob, ChunkResult, DecodeFailure, DecodeJob, SealJob } from './chunk-jobs.js';
import type { DataFrameParams } from '../restore/decrypt.js';
import type { ChunkToSeal } from '../backup/seal-chunk.js';

export interface ChunkWork {
  /** How many jobs can usefully run at once. */
  readonly parallelism: number;
  /**
   * Authenticates and decrypts a sealed data frame, then unpads and
   * decompresses its payload. With `into`, all the memory under `sealed` and
   * `into` is handed over (a worker's, until it answers) and comes back, as
   * the plaintext and as `spare`; without, a `sealed` that is all of its
   * memory is handed over too, and any other is copied.
   */
  decode(frame: DataFrameParams, sealed: Buffer, chunkSize: number, into?: Buffer): Promise<Decoded>;
  /**
   * The workers as lanes for file batches (restore/file-writers.ts), which
   * then keep the process alive until released; none when in-process.
   * `backlog(lane)`: the file work a lane has queued, so that chunk jobs go
   * to the idle worker with the least of it.
   */
  fileLanes(onReply: (reply: unknown) => void, onFailure: (err: Error) => void, backlog: (lane: number) => number): FileLane[];
  releaseFileLanes(): void;
  /**
   * Compresses, pads and seals a volume's data chunk; returns its whole frame,
   * built in `into` when that is big enough, and the chunk's data as `spent`.
   * Both were handed over (a worker's, until it answers) and are the caller's again.
   */
  seal(chunk: ChunkToSeal, into?: Buffer): Promise<Sealed>;
  close(): Promise<void>;
}

export interface FileLane {
  post(message: unknown, transfer: ArrayBuffer[]): void;
}

export type Decoded = { plain: Buffer; spare?: Buffer } | { failed: DecodeFailure };

export interface Sealed {
  frame: Buffer;
  spent: Buffer;
}

export function chunkWork(workers: number = defaultWorkers()): ChunkWork {
  if (workers <= 0 || !existsSync(WORKER_SCRIPT)) {
    takeEarlyWorkers(0);
    return inProcess();
  }
  return new WorkerPool(WORKER_SCRIPT, workers);
}

/**
 * Which idle worker takes the next chunk job, given each one's file backlog
 * (restore's lanes): the one with the least, the last idle of those tied. A
 * job posted to a worker busy writing files waits behind them, while the
 * other may have nothing to do.
 */
export function leastBacklog(backlogs: number[]): number {
  let at = backlogs.length - 1;
  for (let i = at - 1; i >= 0; i--) if (backlogs[i]! < backlogs[at]!) at = i;
  return at;
}

function inProcess(): ChunkWork {
  return {
    parallelism: 1,
    fileLanes: () => [],
    releaseFileLanes: () => {},
    // Decoding decrypts in place: without `into`, in a copy, as the frame may be a view of the source's memory.
    decode: async (frame, sealed, chunkSize, into) => toDecoded(runChunkJob(into ? { op: 'decode', ...frame, data: sealed, chunkSize, into } : { op: 'decode', ...frame, data: Buffer.from(sealed), chunkSize })),
    seal: async (chunk, into) => toSealed(runChunkJob(into ? { op: 'seal', ...chunk, into } : { op: 'seal', ...chunk })),
    close: async () => {},
  };
}

function toDecoded(r: ChunkResult): Decoded {
  if ('plain' in r) return r.spare ? { plain: asBuffer(r.plain), spare: asBuffer(r.spare) } : { plain: asBuffer(r.plain) };
  if ('failed' in r) return r;
  throw new Error('worker answered a decode job with something else');
}

function toSealed(r: ChunkResult): Sealed {
  if (!('frame' in r)) throw new Error('worker answered a seal job with something else');
  return { frame: asBuffer(r.frame), spent: asBuffer(r.spent) };
}

interface Pending {
  resolve(r: ChunkResult): void;
  reject(e: Error): void;
}

class WorkerPool implements ChunkWork {
  readonly parallelism: number;
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; job: ChunkJob }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly all: Worker[] = [];
  private nextId = 0;
  private failed: Error | undefined;
  private closed = false;
  private onFileReply: ((reply: unknown) => void) | undefined;
  private onFileFailure: ((err: Error) => void) | undefined;
  private fileBacklog: ((lane: number) => number) | undefined;

  constructor(
    private readonly script: string,
    size: number,
  ) {
    this.parallelism = size;
  }

  /** Workers start on first use (or were started early: early-workers.ts), so a command that fails early never waits for threads. */
  private start(): void {
    const started = takeEarlyWorkers(this.parallelism);
    for (let i = 0; i < this.parallelism; i++) {
      const w = started[i] ?? new Worker(this.script);
      w.on('message', (m: { id: number; result?: ChunkResult; error?: string } | { files: unknown }) => {
        if ('files' in m) this.onFileReply?.(m.files);
        else this.done(w, m);
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0 && !this.closed) this.fail(new Error(`chunk worker exited with code ${code}`));
      });
      // An idle worker must not keep the process alive; a busy one is ref'd in dispatch().
      w.unref();
      this.all.push(w);
      this.idle.push(w);
    }
  }

  decode(frame: DataFrameParams, sealed: Buffer, chunkSize: number, into?: Buffer): Promise<Decoded> {
    // Copies of key, nonce and AAD that own their memory: a view into Node's shared pool would clone the whole pool.
    const own = (b: Buffer) => new Uint8Array(b);
    const lent = into !== undefined && isWhole(into);
    const job: DecodeJob = { op: 'decode', key: own(frame.key), nonce: own(frame.nonce), aad: own(frame.aad), data: lent ? sealed : owned(sealed), chunkSize };
    if (lent) job.into = into;
    return this.submit(job).then(toDecoded);
  }

  fileLanes(onReply: (reply: unknown) => void, onFailure: (err: Error) => void, backlog: (lane: number) => number): FileLane[] {
    if (!this.all.length) this.start();
    this.onFileReply = onReply;
    this.onFileFailure = onFailure;
    this.fileBacklog = backlog;
    if (this.failed) onFailure(this.failed);
    for (const w of this.all) w.ref();
    return this.all.map((w) => ({ post: (message, transfer) => w.postMessage({ files: message }, transfer) }));
  }

  releaseFileLanes(): void {
    this.onFileReply = undefined;
    this.onFileFailure = undefined;
    this.fileBacklog = undefined;
    for (const w of this.all) if (this.idle.includes(w)) w.unref();
  }

  seal(chunk: ChunkToSeal, into?: Buffer): Promise<Sealed> {
    // Copies of key, nonce and AAD that own their memory: a view into Node's shared pool would clone the whole pool.
    const own = (b: Uint8Array) => new Uint8Array(b);
    const job: SealJob = { op: 'seal', ...chunk, key: own(chunk.key), nonce: own(chunk.nonce), aad: own(chunk.aad), data: owned(chunk.data) };
    if (into && isWhole(into)) job.into = into;
    return this.submit(job).then(toSealed);
  }

  /**
   * Stops the workers without waiting for them: terminate() of a worker that
   * is busy or starting can take long or, seen here, never settle, and no
   * caller needs to wait. Unref'd, they never hold the process open.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.fail(new Error('chunk pool closed'));
    for (const w of this.all) {
      w.unref();
      void w.terminate().catch(() => {});
    }
  }

  private submit(job: ChunkJob): Promise<ChunkResult> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.all.length) this.start();
    const id = this.nextId++;
    const p = new Promise<ChunkResult>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.queue.push({ id, job });
    this.dispatch();
    return p;
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.takeIdle();
      const msg = this.queue.shift()!;
      w.ref();
      const transfer = [msg.job.data.buffer as ArrayBuffer];
      if (msg.job.into) transfer.push(msg.job.into.buffer as ArrayBuffer);
      w.postMessage(msg, transfer);
    }
  }

  private takeIdle(): Worker {
    const backlog = this.fileBacklog;
    const at = backlog ? leastBacklog(this.idle.map((w) => backlog(this.all.indexOf(w)))) : this.idle.length - 1;
    return this.idle.splice(at, 1)[0]!;
  }

  private done(w: Worker, m: { id: number; result?: ChunkResult; error?: string }): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (!this.onFileReply) w.unref();
    this.idle.push(w);
    if (p) {
      if (m.result) p.resolve(m.result);
      else p.reject(new Error(m.error ?? 'chunk worker failed'));
    }
    this.dispatch();
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.onFileFailure?.(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
