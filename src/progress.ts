/**
 * Progress for long work. The pipeline reports bytes; the CLI decides how to
 * show them (a line on a TTY, nothing in cron).
 */
export interface Progress {
  /** Total expected bytes, when known. */
  start(label: string, total?: number): void;
  add(bytes: number): void;
  done(): void;
}

export const noProgress: Progress = {
  start() {},
  add() {},
  done() {},
};
