/**
 * What a backup asks of the source tree, in batches: lstat a directory's
 * children (and read the targets of those that are symlinks), and read small
 * files whole (open, read, fstat, close) with their SHA-256. The calls are
 * synchronous and a batch answers once, so it costs one hand-off between
 * threads, not one per call: on two cores, handing each call to the libuv
 * thread pool cost the main thread more than the calls themselves (a wake-up
 * and a context switch each). Batches run on the source thread
 * (source-readers.ts), or in-process where there is none. File bytes go
 * into shared memory the caller lends (read-ahead.ts's ring), so they reach
 * the main thread with no allocation and no copy per file.
 *
 * The failure of one path is part of the answer, never an exception.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { describeErrno } from '../errors.js';

/** The lstat fields a backup uses (fs.Stats has them all). */
export interface EntryStat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  mtimeMs: number;
}

/** A failed system call: its errno code and the reason warnings give. */
export interface CallFailure {
  code: string | undefined;
  reason: string;
}

export type StatResult =
  | { stat: EntryStat; link?: string; linkFailure?: CallFailure }
  | { failure: CallFailure };

export interface FileRead {
  /** Set when the file could not be opened; nothing else is then. */
  openFailure?: CallFailure;
  /** Bytes read: fewer than asked if the file ended first or a read failed. */
  length: number;
  readFailure?: CallFailure;
  /** From fstat once the file was read in full (if fstat worked). */
  after?: { size: number; mtimeMs: number };
  /** SHA-256 of the bytes read, then of zeros up to the size asked: of what the tar holds for the file. */
  sha256: string;
}

export type SourceJob =
  | { op: 'lstat'; paths: string[] }
  /** File i is read into `into` at `offsets[i]`, at most `sizes[i]` bytes. */
  | { op: 'read'; paths: string[]; sizes: number[]; offsets: number[]; into: SharedArrayBuffer };

export type SourceAnswer =
  | { op: 'lstat'; stats: StatResult[] }
  | { op: 'read'; files: FileRead[] };

export function runSourceJob(job: SourceJob): SourceAnswer {
  if (job.op === 'lstat') return { op: 'lstat', stats: job.paths.map(statOf) };
  const into = Buffer.from(job.into);
  const files = job.paths.map((path, i) => readWhole(path, into.subarray(job.offsets[i], job.offsets[i]! + job.sizes[i]!)));
  return { op: 'read', files };
}

function statOf(path: string): StatResult {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    return { failure: failureOf(err) };
  }
  const stat: EntryStat = { dev: st.dev, ino: st.ino, mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, rdev: st.rdev, size: st.size, mtimeMs: st.mtimeMs };
  if ((st.mode & constants.S_IFMT) !== constants.S_IFLNK) return { stat };
  try {
    return { stat, link: readlinkSync(path) };
  } catch (err) {
    return { stat, linkFailure: failureOf(err) };
  }
}

/** Reads the file at `path` into `into` (its size as the walk found it), then fstats it. */
function readWhole(path: string, into: Buffer): FileRead {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return { openFailure: failureOf(err), length: 0, sha256: '' };
  }
  try {
    const hash = createHash('sha256');
    let length = 0;
    let readFailure: CallFailure | undefined;
    while (length < into.length) {
      let n: number;
      try {
        n = readSync(fd, into, length, into.length - length, length);
      } catch (err) {
        readFailure = failureOf(err);
        break;
      }
      if (n === 0) break;
      length += n;
    }
    hash.update(into.subarray(0, length));
    if (length < into.length) {
      hash.update(Buffer.alloc(into.length - length));
      return readFailure ? { length, readFailure, sha256: hash.digest('hex') } : { length, sha256: hash.digest('hex') };
    }
    const read: FileRead = { length, sha256: hash.digest('hex') };
    try {
      const after = fstatSync(fd);
      read.after = { size: after.size, mtimeMs: after.mtimeMs };
    } catch {
      // Without a second look the file counts as unchanged, as it did before it was read.
    }
    return read;
  } finally {
    closeSync(fd);
  }
}

export function failureOf(err: unknown): CallFailure {
  const code = (err as NodeJS.ErrnoException).code;
  return { code, reason: describeErrno(code) ?? String(err) };
}
