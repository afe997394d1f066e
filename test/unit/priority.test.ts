// parallel/priority: the chunk workers run five steps of nice below the
// thread that starts them (never above 19), and the starting thread keeps
// its own. Checked on a real worker from dist/ (npm test builds it first),
// reading each thread's nice value from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { workerNice } from '../../src/parallel/priority.js';

const WORKER = fileURLToPath(new URL('../../dist/parallel/chunk-worker.js', import.meta.url));

/** Nice value of each thread of this process, by thread id. */
function threadNice(): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is field 3, nice field 19.
      nice.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // the thread ended while listed
    }
  }
  return nice;
}

describe('worker priority', () => {
  it('is five steps of nice lower, and never beyond 19', () => {
    expect(workerNice(0)).toBe(5);
    expect(workerNice(-3)).toBe(2);
    expect(workerNice(17)).toBe(19);
    expect(workerNice(19)).toBe(19);
  });

  it.runIf(process.platform === 'linux')('a started chunk worker runs at it, and the starting thread keeps its own', async () => {
    const own = getPriority();
    const before = threadNice();
    const worker = new Worker(WORKER);
    try {
      // A job it cannot run: its answer says the worker is up (and past its first line).
      const answered = new Promise((resolve) => worker.once('message', resolve));
      worker.postMessage({ id: 1, job: { op: 'unknown' } });
      await answered;
      const added = [...threadNice()].filter(([tid]) => !before.has(tid));
      expect(added.map(([, nice]) => nice)).toContain(workerNice(own));
      expect(getPriority()).toBe(own);
    } finally {
      await worker.terminate();
    }
  });
});
