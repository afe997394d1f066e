/**
 * What a person or a script reads. stdout carries only the result (one JSON
 * object with --json); stderr carries errors, warnings and, on a TTY, a
 * progress line. Messages follow age's style: "coffer: error: ...", lower
 * case, no final period, optionally followed by "coffer: hint: ...".
 */
import { CofferError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Warnings } from '../report.js';
import { formatBytes } from './sizes.js';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function say(line: string): void {
  process.stdout.write(line + '\n');
}

export function printError(err: CofferError): void {
  process.stderr.write(`coffer: error: ${err.message}\n`);
  if (err.hint) process.stderr.write(`coffer: hint: ${err.hint}\n`);
}

export function printWarnings(w: Warnings): void {
  for (const x of w.kept) process.stderr.write(`coffer: warning: ${x.message}\n`);
  if (w.count > w.kept.length) process.stderr.write(`coffer: warning: ... and ${w.count - w.kept.length} more (see the log)\n`);
}

export function warningsJson(w: Warnings) {
  return { count: w.count, items: w.kept };
}

export function errorJson(err: CofferError) {
  return { ok: false, exitCode: err.exitCode, error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), where: err.where } };
}

/** A single self-rewriting line on a TTY; nothing at all otherwise. */
export function terminalProgress(enabled: boolean): Progress {
  if (!enabled) return { start() {}, add() {}, done() {} };
  let label = '';
  let total: number | undefined;
  let bytes = 0;
  let started = 0;
  let last = 0;
  const draw = () => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? `${formatBytes(bytes / secs)}/s` : '';
    const pct = total ? ` ${Math.min(100, Math.floor((bytes / total) * 100))}%` : '';
    process.stderr.write(`\r\x1b[K${label}: ${formatBytes(bytes)}${pct} ${rate}`);
  };
  return {
    start(l, t) {
      label = l;
      total = t;
      bytes = 0;
      started = Date.now();
    },
    add(n) {
      bytes += n;
      const now = Date.now();
      if (now - last > 200) {
        last = now;
        draw();
      }
    },
    done() {
      if (last) process.stderr.write('\r\x1b[K');
      last = 0;
    },
  };
}
