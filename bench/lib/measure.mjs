// @ts-check
/**
 * Runs one command under GNU time and returns its wall time, CPU time and
 * peak RSS.
 *
 * What is measured, and how:
 * - wall: monotonic clock around the whole child (GNU time's own start-up,
 *   about a millisecond, included);
 * - user and sys CPU: GNU time's wait4() rusage of its child, which Linux
 *   accumulates over every descendant that was waited for (so a `bash -c`
 *   pipeline counts tar, zstd and age together, and worker threads count as
 *   part of their process);
 * - peak RSS: ru_maxrss of that same rusage, which for children is the
 *   largest single process among them, not the sum: for a pipeline it is
 *   the biggest of tar, zstd and age, for coffer the Node process with all
 *   its threads. Daemons a tool starts and does not wait for (gpg-agent)
 *   are not counted.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';

export const TIME = '/usr/bin/time';

/**
 * @typedef {{ cmd: string, args: string[], cwd?: string, env?: Record<string, string> }} Command
 * @typedef {{ wall: number, user: number, sys: number, cpu: number, rssKiB: number, exitCode: number }} Measurement
 */

/** Process group of the command being measured, if any. */
let running = 0;

/** Ends the command being measured and everything it started (its own process group). */
export function stopRunning() {
  if (running) {
    try {
      process.kill(-running, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * @param {Command} c
 * @param {string} log the command's stdout goes to `log.out`, its stderr to `log.err`
 * @param {number} timeoutSeconds the command and its process group are killed after this long
 * @returns {Promise<Measurement>}
 */
export async function measure(c, log, timeoutSeconds) {
  const timeFile = `${log}.time`;
  const out = openSync(`${log}.out`, 'w');
  const err = openSync(`${log}.err`, 'w');
  try {
    const t0 = process.hrtime.bigint();
    let timedOut = false;
    const exitCode = await new Promise((resolve, reject) => {
      // Its own process group, so a timeout or Ctrl-C can end the whole pipeline (see stopRunning).
      const child = spawn(TIME, ['-f', '%e %U %S %M', '-o', timeFile, '--', c.cmd, ...c.args], {
        cwd: c.cwd,
        env: { ...process.env, ...c.env },
        stdio: ['ignore', out, err],
        detached: true,
      });
      running = child.pid ?? 0;
      const timer = setTimeout(() => { timedOut = true; stopRunning(); }, timeoutSeconds * 1000);
      child.on('error', (e) => { clearTimeout(timer); running = 0; reject(e); });
      child.on('exit', (code, signal) => { clearTimeout(timer); running = 0; resolve(code ?? (signal ? 128 : 1)); });
    });
    if (timedOut) {
      rmSync(timeFile, { force: true });
      return { wall: timeoutSeconds, user: 0, sys: 0, cpu: 0, rssKiB: 0, exitCode: 124 };
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    // On failure GNU time writes "Command exited with non-zero status N" (or "terminated by signal") before the numbers.
    const text = existsSync(timeFile) ? readFileSync(timeFile, 'utf8') : '';
    const numbers = text.split('\n').find((l) => /^[\d.]+ [\d.]+ [\d.]+ \d+$/.test(l.trim())) ?? '0 0 0 0';
    const [, user, sys, rss] = numbers.trim().split(' ').map(Number);
    rmSync(timeFile, { force: true });
    return { wall, user, sys, cpu: user + sys, rssKiB: rss, exitCode: Number(exitCode) };
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/**
 * Runs a helper command untimed (setup, init); throws with its output on failure.
 * @param {Command} c
 * @returns {Promise<string>} stdout
 */
export function run(c) {
  return new Promise((resolve, reject) => {
    const child = spawn(c.cmd, c.args, { cwd: c.cwd, env: { ...process.env, ...c.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {Buffer[]} */
    const so = [];
    /** @type {Buffer[]} */
    const se = [];
    child.stdout.on('data', (b) => so.push(b));
    child.stderr.on('data', (b) => se.push(b));
    child.on('error', reject);
    child.on('exit', (code) => {
      const stdout = Buffer.concat(so).toString();
      if (code === 0) resolve(stdout);
      else reject(new Error(`${c.cmd} ${c.args.join(' ')} exited ${code}: ${Buffer.concat(se).toString().trim().slice(-2000)}`));
    });
  });
}
