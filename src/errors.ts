/**
 * Typed errors. Every failure a user can meet is a CofferError with a stable
 * `code` (for logs and --json) and an exit class from the brief's table; the
 * CLI maps the class to the process exit code in one place (cli/main.ts).
 * `where` names the volume, chunk or path involved so a message can say it.
 */

export const ExitCode = {
  ok: 0,
  warnings: 1,
  usage: 2,
  integrity: 3,
  key: 4,
  io: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface Where {
  set?: string;
  volume?: string;
  chunk?: number;
  path?: string;
}

export abstract class CofferError extends Error {
  abstract readonly exitCode: ExitCode;
  readonly code: string;
  readonly where: Where;
  readonly hint: string | undefined;

  constructor(code: string, message: string, opts: { where?: Where; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.where = opts.where ?? {};
    this.hint = opts.hint;
  }
}

/** Bad flags, unreadable configuration, a target that is not one. */
export class UsageError extends CofferError {
  override readonly name = 'UsageError';
  readonly exitCode = ExitCode.usage;
}

/** Tampered, corrupt, truncated, missing or foreign data. */
export class IntegrityError extends CofferError {
  override readonly name = 'IntegrityError';
  readonly exitCode = ExitCode.integrity;
}

/** Wrong passphrase or identity, untrusted signer. */
export class KeyError extends CofferError {
  override readonly name = 'KeyError';
  readonly exitCode = ExitCode.key;
}

/** The target or a local file system failed: no space, device error, unreachable storage. */
export class TargetError extends CofferError {
  override readonly name = 'TargetError';
  readonly exitCode = ExitCode.io;
}

/** Wraps an operating-system error from the target side into a TargetError with a plain message. */
export function ioError(action: string, path: string, err: unknown, where: Where = {}): CofferError {
  if (err instanceof CofferError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = describeErrno(code) ?? (err instanceof Error ? err.message : String(err));
  const hint = code === 'ENOSPC' ? 'free some space or choose another target, then run the command again' : undefined;
  return new TargetError(code === 'ENOSPC' ? 'no-space' : 'io-failed', `failed to ${action} ${path}: ${reason}`, {
    where,
    cause: err,
    ...(hint ? { hint } : {}),
  });
}

export function describeErrno(code: string | undefined): string | undefined {
  switch (code) {
    case 'ENOSPC': return 'no space left on device';
    case 'EDQUOT': return 'disk quota exceeded';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'ENOENT': return 'no such file or directory';
    case 'EROFS': return 'read-only file system';
    case 'EIO': return 'input/output error';
    case 'ENOTDIR': return 'not a directory';
    case 'EISDIR': return 'is a directory';
    case 'EEXIST': return 'already exists';
    default: return undefined;
  }
}

/** One stable log event name per exit class, for monitoring to alert on. */
export function failureEvent(e: CofferError): string {
  switch (e.exitCode) {
    case ExitCode.usage: return 'usage-error';
    case ExitCode.integrity: return 'integrity-failure';
    case ExitCode.key: return 'key-failure';
    case ExitCode.io: return 'target-failure';
    default: return 'command-failed';
  }
}
