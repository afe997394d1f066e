/**
 * Writing one regular file, as a sequence of plain messages (begin, data...,
 * end), so the same code runs on a writer thread or in-process: the bytes go
 * to a temporary name (O_EXCL, mode 0600), are hashed as written and checked
 * against the catalog, the metadata is set through the descriptor, and only
 * then is the file renamed into place. A file that fails or is abandoned is
 * unlinked. Calls are synchronous: on this machine that is three times the
 * file rate of callback chains (docs/PERFORMANCE.md).
 *
 * A file begun with `direct` is created under its final name instead, when
 * nothing has that name yet, and is not renamed: for a restore into a
 * staging folder (staging.ts), where no name is final until the folder is
 * moved into place. A name already taken (the archive holds it twice, or a
 * folder has it) falls back to a temporary name (made up here unless given)
 * and rename. There a file
 * may also be created with its own mode rather than 0600, and left with the
 * owner it was created with, sparing a chmod and a chown: the folder (0700)
 * keeps it private until then.
 */
import { createHash, hash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, futimesSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { tempName } from './staging.js';

export interface FileMeta {
  mode: number;
  /** -1: leave as created. */
  uid: number;
  gid: number;
  /** Milliseconds since the epoch; null: leave as created. */
  mtimeMs: number | null;
}

/** What `end` takes in hash-only mode, where no metadata is applied. */
export const NO_META: FileMeta = { mode: 0, uid: -1, gid: -1, mtimeMs: null };

export type FileOp =
  /**
   * `tmp` null: the file is only hashed and checked, nothing touches the disk (keyed verify).
   * Absent, with `direct`: a temporary name is made here if the final one is taken.
   * `mode`: create the file with this mode, which the umask leaves whole, rather than 0600 and a chmod at the end.
   */
  | { op: 'begin'; id: number; tmp?: string | null; direct?: true; final?: string; mode?: number }
  /** `length` bytes at `offset` in buffer number `buffer` of the batch (file-writers.ts packs a batch's data together). */
  | { op: 'data'; id: number; buffer: number; offset: number; length: number }
  | { op: 'end'; id: number; final: string; meta: FileMeta; expected: Expected | null }
  | { op: 'abort'; id: number };

/**
 * A small file in one op (begin, its data, end), as a flat array: most ops
 * a restore sends are these, and as JSON an array crosses threads in about
 * a third of the time of the same fields as an object (docs/PERFORMANCE.md).
 * `tmp` 0: none given (JSON has no undefined); `createMode` -1: 0600;
 * `sha256` null: nothing expected; then [buffer, offset, length] of each
 * piece of its data, as in a data op.
 */
export type SmallFileOp = [id: number, tmp: string | null | 0, final: string, direct: 0 | 1, createMode: number, mode: number, uid: number, gid: number, mtimeMs: number | null, sha256: string | null, size: number, ...data: number[]];
/** Where a SmallFileOp's data begins. */
const SMALL_FILE_DATA = 11;

export interface Expected {
  sha256: string;
  size: number;
}

/** A failed system call, as it crosses threads (an Error does not keep its errno fields). */
export interface SyscallFailure {
  stage: 'create' | 'write';
  /** The name a failed create tried. */
  path?: string;
  code?: string;
  syscall?: string;
  message: string;
}

export type FileOutcome =
  | { id: number; status: 'written'; size: number }
  | { id: number; status: 'is-directory' }
  | { id: number; status: 'mismatch' }
  | { id: number; status: 'failed'; failure: SyscallFailure };

interface OpenFile {
  /** -1 once closed, or when it could not be created. */
  fd: number;
  /** What was created: the temporary name, or the final one (direct); null: only hashed. */
  path: string | null;
  direct: boolean;
  /** The mode it was created with, when asked for one (else 0600, less the umask). */
  mode: number | undefined;
  /** Made at the first piece hashed piece by piece. */
  hash: Hash | undefined;
  /** A small file that came in one piece, hashed in one call: no Hash object to make (about 0.6 us a file). */
  sha256?: string;
  size: number;
  /** Set once a call failed: the rest of the file's data is ignored and `end` reports this. */
  failure?: SyscallFailure;
}

/**
 * One thread's files. `end` returns the file's outcome, failures of earlier
 * ops included. Only files that span ops (begin, data..., end) are kept in
 * the map; a small file never enters it. Its churn cost memory: once the
 * map's table had been promoted, V8 made each new table after a delete in
 * the old generation, where a worker then gathered 12 MiB of dead ones
 * between full collections (docs/PERFORMANCE.md, "Worker heaps kept small").
 */
export class FileJobs {
  private readonly files = new Map<number, OpenFile>();

  run(op: FileOp, buffers: Uint8Array[]): FileOutcome | undefined {
    switch (op.op) {
      case 'begin':
        this.files.set(op.id, this.begin(op.tmp, op.direct ? op.final : undefined, op.mode));
        return undefined;
      case 'data': {
        const f = this.files.get(op.id);
        if (f) this.data(f, buffers[op.buffer]!.subarray(op.offset, op.offset + op.length));
        return undefined;
      }
      case 'end': {
        const f = this.files.get(op.id);
        if (!f) return undefined;
        this.files.delete(op.id);
        return this.end(op.id, f, op.final, op.meta, op.expected);
      }
      case 'abort': {
        const f = this.files.get(op.id);
        this.files.delete(op.id);
        if (f) discard(f);
        return undefined;
      }
    }
  }

  runSmallFile(op: SmallFileOp, buffers: Uint8Array[]): FileOutcome | undefined {
    const [id, tmp, final, direct, createMode, mode, uid, gid, mtimeMs, sha256, size] = op;
    const f = this.begin(tmp === 0 ? undefined : tmp, direct ? final : undefined, createMode === -1 ? undefined : createMode);
    const whole = op.length === SMALL_FILE_DATA + 3;
    for (let i = SMALL_FILE_DATA; i < op.length; i += 3) {
      const offset = op[i + 1] as number;
      this.data(f, buffers[op[i] as number]!.subarray(offset, offset + (op[i + 2] as number)), whole);
    }
    return this.end(id, f, final, { mode, uid, gid, mtimeMs }, sha256 === null ? null : { sha256, size });
  }

  /** Closes and unlinks every file still open (the restore is failing). */
  abortAll(): void {
    for (const f of this.files.values()) discard(f);
    this.files.clear();
  }

  private begin(tmp: string | null | undefined, final: string | undefined, mode: number | undefined): OpenFile {
    const file: OpenFile = { fd: -1, path: null, direct: false, mode, hash: undefined, size: 0 };
    if (final !== undefined) {
      try {
        file.fd = openSync(final, 'wx', mode ?? 0o600);
        file.path = final;
        file.direct = true;
        return file;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          file.failure = failureOf('create', err, final);
          return file;
        }
      }
      tmp ??= tempName(final.slice(0, final.lastIndexOf('/')));
    }
    if (!tmp) return file;
    file.path = tmp;
    try {
      file.fd = openSync(tmp, 'wx', mode ?? 0o600);
    } catch (err) {
      file.failure = failureOf('create', err, tmp);
    }
    return file;
  }

  /** `whole`: these are all the file's bytes. */
  private data(f: OpenFile, bytes: Uint8Array, whole = false): void {
    if (f.failure) return;
    try {
      if (whole) f.sha256 = hash('sha256', bytes, 'hex');
      else (f.hash ??= createHash('sha256')).update(bytes);
      f.size += bytes.length;
      if (f.path === null) return;
      let off = 0;
      while (off < bytes.length) off += writeSync(f.fd, bytes, off, bytes.length - off);
    } catch (err) {
      f.failure = failureOf('write', err);
    }
  }

  /** `f` is no longer in the map: whatever happens here, it is finished. */
  private end(id: number, f: OpenFile, final: string, meta: FileMeta, expected: Expected | null): FileOutcome {
    if (f.failure) {
      discard(f);
      return { id, status: 'failed', failure: f.failure };
    }
    const sha256 = f.sha256 ?? (f.hash ?? createHash('sha256')).digest('hex');
    if (expected && (f.size !== expected.size || sha256 !== expected.sha256)) {
      discard(f);
      return { id, status: 'mismatch' };
    }
    if (f.path === null) return { id, status: 'written', size: f.size };
    try {
      if (meta.uid !== -1 || meta.gid !== -1) fchownSync(f.fd, meta.uid, meta.gid);
      if (meta.mode !== f.mode) fchmodSync(f.fd, meta.mode);
      // A Date, not seconds: fs replaces a negative number of seconds (before 1970) by the current time.
      if (meta.mtimeMs !== null) futimesSync(f.fd, new Date(meta.mtimeMs), new Date(meta.mtimeMs));
      const fd = f.fd;
      f.fd = -1;
      closeSync(fd);
      if (!f.direct) renameSync(f.path, final);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') {
        discard(f);
        return { id, status: 'is-directory' };
      }
      discard(f);
      return { id, status: 'failed', failure: failureOf('write', err) };
    }
    return { id, status: 'written', size: f.size };
  }
}

/** Closes and unlinks what `f` created. */
function discard(f: OpenFile): void {
  // Not created (O_EXCL failed, or only hashed): the name belongs to something else.
  if (f.path === null || f.failure?.stage === 'create') return;
  if (f.fd !== -1) {
    try {
      closeSync(f.fd);
    } catch {
      // already failing; the first error is the one reported
    }
  }
  try {
    unlinkSync(f.path);
  } catch {
    // nothing there: nothing left to clean
  }
}

function failureOf(stage: SyscallFailure['stage'], err: unknown, path?: string): SyscallFailure {
  const e = err as NodeJS.ErrnoException;
  return { stage, message: e.message ?? String(err), ...(path ? { path } : {}), ...(e.code ? { code: e.code } : {}), ...(e.syscall ? { syscall: e.syscall } : {}) };
}
