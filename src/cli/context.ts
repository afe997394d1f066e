/**
 * What every command gets: a logger, a progress sink, and whether to print
 * JSON. Built once from the common flags.
 */
import { createLogger, isLogLevel } from '../log.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { UsageError } from '../errors.js';
import { terminalProgress } from './output.js';

export interface CommonFlags {
  json?: boolean;
  logFile?: string;
  logLevel?: string;
}

export interface Context {
  json: boolean;
  log: Logger;
  progress: Progress;
}

export function makeContext(flags: CommonFlags, command: string): Context {
  if (flags.logLevel !== undefined && !isLogLevel(flags.logLevel)) {
    throw new UsageError('bad-log-level', `--log-level ${flags.logLevel} is not a level`, { hint: 'use fatal, error, warn, info, debug, trace or silent' });
  }
  const log = createLogger({ ...(flags.logFile ? { file: flags.logFile } : {}), ...(flags.logLevel ? { level: flags.logLevel } : {}) }).child({ command });
  const json = Boolean(flags.json);
  return { json, log, progress: terminalProgress(!json && Boolean(process.stderr.isTTY)) };
}
