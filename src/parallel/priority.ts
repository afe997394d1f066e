/**
 * The chunk workers run at a lower priority than the thread that started
 * them. On two cores the main thread is the stage every other one waits on
 * (it frames the tar stream, hands out the jobs, writes and reads the
 * volumes); at equal priority a worker woken for a job takes its core, and
 * the whole run waits. Five steps of nice lower, the workers still get every
 * cycle nothing else wants: a 100,000-file backup took 11% less time and
 * large files the same (docs/PERFORMANCE.md, "Workers yield to the main
 * thread").
 *
 * Linux only: there a nice value belongs to one thread, and setpriority on
 * the calling thread changes that thread alone; elsewhere it would lower
 * the whole process.
 */
import { getPriority, setPriority } from 'node:os';

const NICE_STEP = 5;
const LOWEST = 19;

/** The nice value a worker takes, from the one it inherited: never higher, so a run under `nice` stays under it. */
export function workerNice(inherited: number): number {
  return Math.min(LOWEST, inherited + NICE_STEP);
}

/** Lowers the calling thread's priority (a worker's, at its start); where that is not possible, nothing changes. */
export function yieldToMainThread(): void {
  if (process.platform !== 'linux') return;
  try {
    setPriority(workerNice(getPriority()));
  } catch {
    // Not permitted here (a sandbox): the run is only slower.
  }
}
