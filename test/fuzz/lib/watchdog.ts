/**
 * A watchdog thread for the fuzz cases. A case that awaits forever is caught
 * by the per-case timeout (harness.ts); one that spins in synchronous code
 * never yields to a timer, so a worker thread watches instead: when a case
 * runs past its hard limit, or the process's memory passes its cap, the
 * worker writes what was running (target, case number, seed) to stderr and to
 * a file, and kills the process. The worker also samples the resident set
 * size while each case runs, so the harness can check each case's peak.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const LABEL_BYTES = 1024;
const INPUT_BYTES = 1024 * 1024;
const LABEL_AT = 40;
const INPUT_AT = LABEL_AT + LABEL_BYTES;

// Shared layout: f64[0] case start (ms, 0 = idle), f64[1] hard limit (ms),
// f64[2] peak rss during the case, f64[3] rss cap, f64[4] input length;
// then the label and the case's input (as a seed file would hold it).
const WORKER = `
const { workerData } = require('node:worker_threads');
const { writeSync, writeFileSync } = require('node:fs');
const f = new Float64Array(workerData.sab, 0, 5);
const label = new Uint8Array(workerData.sab, ${LABEL_AT}, ${LABEL_BYTES});
const input = new Uint8Array(workerData.sab, ${INPUT_AT}, ${INPUT_BYTES});
function die(why) {
  const end = label.indexOf(0);
  const what = Buffer.from(label.subarray(0, end < 0 ? label.length : end)).toString('utf8');
  let msg = 'coffer fuzz: ' + why + ' in ' + what + '; killing the process\\n';
  try {
    writeFileSync(workerData.report + '.input', input.subarray(0, f[4]));
    msg += 'coffer fuzz: its input is in ' + workerData.report + '.input (keep it as a seed: test/fuzz/seeds/<target>/<what-it-found>.<ext>)\\n';
  } catch {}
  try { writeFileSync(workerData.report, msg); } catch {}
  try { writeSync(2, msg); } catch {}
  process.kill(process.pid, 'SIGKILL');
}
setInterval(() => {
  const started = f[0];
  if (started === 0) return;
  const rss = process.memoryUsage.rss();
  if (rss > f[2]) f[2] = rss;
  if (f[3] > 0 && rss > f[3]) die('memory ' + Math.round(rss / 2 ** 20) + ' MiB passed the cap of ' + Math.round(f[3] / 2 ** 20) + ' MiB');
  if (Date.now() - started > f[1]) die('a case ran for more than ' + f[1] / 1000 + ' s without returning (a synchronous hang?)');
}, 10); // not unref: the worker would exit (the Worker itself is unref'd)
`;

export class Watchdog {
  private readonly sab = new SharedArrayBuffer(INPUT_AT + INPUT_BYTES);
  private readonly f = new Float64Array(this.sab, 0, 5);
  private readonly label = new Uint8Array(this.sab, LABEL_AT, LABEL_BYTES);
  private readonly input = new Uint8Array(this.sab, INPUT_AT, INPUT_BYTES);
  private readonly worker: Worker;
  readonly report = join(tmpdir(), `coffer-fuzz-watchdog-${process.pid}.txt`);

  constructor() {
    this.worker = new Worker(WORKER, { eval: true, workerData: { sab: this.sab, report: this.report } });
    this.worker.unref();
    this.worker.on('error', (err) => process.stderr.write(`coffer fuzz: the watchdog thread failed: ${String(err)}\n`));
  }

  /**
   * Marks a case as running: `label` says which (target, case, seed) and
   * `input` is the case as a seed file, both for a report.
   */
  begin(label: string, hardLimitMs: number, rssCap: number, input: Uint8Array = new Uint8Array(0)): void {
    this.label.fill(0);
    this.label.set(Buffer.from(label, 'utf8').subarray(0, LABEL_BYTES - 1));
    const n = Math.min(input.length, INPUT_BYTES);
    this.input.set(input.subarray(0, n));
    this.f[4] = n;
    this.f[1] = hardLimitMs;
    this.f[2] = process.memoryUsage.rss();
    this.f[3] = rssCap;
    this.f[0] = Date.now();
  }

  /** Marks the case as finished; returns the peak resident set size seen while it ran. */
  end(): number {
    this.f[0] = 0;
    return Math.max(this.f[2]!, process.memoryUsage.rss());
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

