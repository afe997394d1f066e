/**
 * Warnings collected during a run: a file skipped or changed while read.
 * Any warning makes the run exit 1. Each is also logged as it happens; the
 * list kept for the result is capped so a tree of a million unreadable files
 * cannot exhaust memory (the count stays exact).
 *
 * Warnings are recorded in the order of the paths they are about. A stage
 * that works ahead of its consumer (backup/read-ahead.ts takes entries from
 * the walk early) holds back the warnings added meanwhile and replays them
 * when the consumer reaches them.
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
  private held: RunWarning[] | undefined;

  constructor(private readonly log: Logger) {}

  add(code: string, path: string, message: string): void {
    if (this.held) {
      this.held.push({ code, path, message });
      return;
    }
    this.count++;
    if (this.kept.length < KEEP) this.kept.push({ code, path, message });
    this.log.warn({ event: code, path }, message);
  }

  /** Holds back the warnings added from now until `release`. */
  hold(): void {
    this.held = [];
  }

  /** Stops holding back; returns what was held, for `replay` where it belongs. */
  release(): RunWarning[] {
    const held = this.held ?? [];
    this.held = undefined;
    return held;
  }

  replay(held: RunWarning[]): void {
    for (const w of held) this.add(w.code, w.path, w.message);
  }
}
