/**
 * Warnings collected during a run: a file skipped or changed while read.
 * Any warning makes the run exit 1. Each is also logged as it happens; the
 * list kept for the result is capped so a tree of a million unreadable files
 * cannot exhaust memory (the count stays exact).
 */
import type { Logger } from 'pino';

export interface RunWarning {
  code: string;
  path: string;
  message: string;
}

const KEEP = 1000;

export class Warnings {
  readonly kept: RunWarning[] = [];
  count = 0;

  constructor(private readonly log: Logger) {}

  add(code: string, path: string, message: string): void {
    this.count++;
    if (this.kept.length < KEEP) this.kept.push({ code, path, message });
    this.log.warn({ event: code, path }, message);
  }
}
