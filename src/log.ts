/**
 * pino JSON logs: to --log-file, or to stderr when --log-level is given
 * without a file; silent otherwise, so cron mail holds only the one-line
 * summary or error. Every event that monitoring may alert on carries a
 * stable `event` field (docs/OPERATIONS.md). Callers never pass keys or
 * passphrases; `redact` is only a backstop.
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  file?: string;
  level?: string;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(level: string): boolean {
  return LEVELS.includes(level);
}

export function createLogger(o: LogOptions): Logger {
  const level = o.level ?? (o.file ? 'info' : 'silent');
  const options = {
    level,
    base: { pid: process.pid, tool: 'coffer' },
    redact: { paths: ['passphrase', '*.passphrase', 'dataKey', '*.dataKey', 'identity', '*.identity', 'secret', '*.secret'], censor: '[redacted]' },
  };
  if (level === 'silent') return pino({ ...options, enabled: false });
  const dest = pino.destination({ dest: o.file ?? 2, sync: true, mkdir: true });
  return pino(options, dest);
}

export const silentLogger: Logger = pino({ enabled: false });
