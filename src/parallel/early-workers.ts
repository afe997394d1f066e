/**
 * Worker threads started as a command begins, before its modules have
 * loaded: a worker takes 50-90 ms to be ready, and that then overlaps
 * loading the command and opening the set instead of delaying the first
 * chunk. The pool (pool.ts) adopts them when it starts, if it wants as many.
 * A module of its own, with nothing to load, so the workers start at once.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export const WORKER_SCRIPT = fileURLToPath(new URL('./chunk-worker.js', import.meta.url));

interface EarlyWorker {
  worker: Worker;
  /** Failed or exited before a pool adopted it: the pool starts its own instead, and sees its error. */
  lost: boolean;
  onLost: () => void;
}

let early: EarlyWorker[] = [];

export function defaultWorkers(): number {
  return availableParallelism();
}

/** Starts `count` workers (none if some are already waiting); returns them, for tests to watch. */
export function startWorkersEarly(count: number = defaultWorkers(), script: string = WORKER_SCRIPT): Worker[] {
  if (early.length || count <= 0 || !existsSync(script)) return [];
  for (let i = 0; i < count; i++) {
    const e: EarlyWorker = { worker: new Worker(script), lost: false, onLost: () => (e.lost = true) };
    e.worker.on('error', e.onLost).on('exit', e.onLost);
    // Never what keeps the process alive: a command that fails before using them exits at once.
    e.worker.unref();
    early.push(e);
  }
  return early.map((e) => e.worker);
}

/** The early workers if there are `count` of them, all alive; otherwise none (and any there were are stopped). */
export function takeEarlyWorkers(count: number): Worker[] {
  const taken = early;
  early = [];
  if (taken.length === count && taken.every((e) => !e.lost)) {
    for (const e of taken) e.worker.off('error', e.onLost).off('exit', e.onLost);
    return taken.map((e) => e.worker);
  }
  for (const e of taken) void e.worker.terminate().catch(() => {});
  return [];
}
