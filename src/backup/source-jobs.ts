/**
 * What a backup asks of the source tree, in batches: lstat a directory's
 * children (and read the targets of those that are symlinks), and read small
 * files whole (open, read, fstat, close) with their SHA-256. Large files are
 * streamed: opened once, read part after part in order (hashed as they are
 * read), closed with their SHA-256; the thread keeps each open one's
 * descriptor and hash between jobs. The calls are
 * synchronous and a batch answers once, so it costs one hand-off between
 * threads, not one per call: on two cores, handing each call to the libuv
 * thread pool cost the main thread more than the calls themselves (a wake-up
 * and a context switch each). Batches run on the source threads
 * (source-readers.ts), or in-process where there is none. File bytes go
 * into shared memory the caller lends (read-ahead.ts's ring), so they reach
 * the main thread with no allocation and no copy per file.
 *
 * The failure of one path is part of the answer, never an exception.
 */
import { createHash, hash } from 'node:crypto';
import type { Hash } from 'node:crypto';
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

/** A part of a streamed file: fewer bytes than asked once the file ended or a read failed (then none after it). */
export interface PartRead {
  length: number;
  readFailure?: CallFailure;
}

/** A streamed file, closed: the SHA-256 of its parts and then zeros up to the size given; fstat when no part came short. */
export interface StreamEnd {
  sha256: string;
  after?: { size: number; mtimeMs: number };
}

export type SourceJob =
  | { op: 'lstat'; paths: string[] }
  /** File i is read into `into` at `offsets[i]`, at most `sizes[i]` bytes. */
  | { op: 'read'; paths: string[]; sizes: number[]; offsets: number[]; into: SharedArrayBuffer }
  | { op: 'open'; path: string }
  /** The next `length` bytes of an open stream, into `into` at `at`. */
  | { op: 'part'; stream: number; length: number; into: SharedArrayBuffer; at: number }
  /** `size`: the bytes the tar holds for the file, so its hash covers the zeros that replace what was not read. */
  | { op: 'close'; stream: number; size: number };

export type SourceAnswer =
  | { op: 'lstat'; stats: StatResult[] }
  | { op: 'read'; files: FileRead[] }
  | { op: 'open'; stream: number }
  | { op: 'open'; openFailure: CallFailure }
  | { op: 'part'; part: PartRead }
  | { op: 'close'; end: StreamEnd };

export function runSourceJob(job: SourceJob): SourceAnswer {
  switch (job.op) {
    case 'lstat':
      return { op: 'lstat', stats: job.paths.map(statOf) };
    case 'read': {
      const into = Buffer.from(job.into);
      const files = job.paths.map((path, i) => readWhole(path, into.subarray(job.offsets[i], job.offsets[i]! + job.sizes[i]!)));
      return { op: 'read', files };
    }
    case 'open':
      return openStream(job.path);
    case 'part':
      return { op: 'part', part: readPart(streamOf(job.stream), Buffer.from(job.into, job.at, job.length)) };
    case 'close':
      return { op: 'close', end: closeStream(job.stream, job.size) };
  }
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
    if (length < into.length) {
      const sha256 = createHash('sha256').update(into.subarray(0, length)).update(Buffer.alloc(into.length - length)).digest('hex');
      return readFailure ? { length, readFailure, sha256 } : { length, sha256 };
    }
    // One call, no Hash object to make: about 0.6 us less a file than createHash (100,000 files of 1-16 KiB).
    const read: FileRead = { length, sha256: hash('sha256', into, 'hex') };
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

interface OpenStream {
  fd: number;
  hash: Hash;
  position: number;
  /** A read came short: the file ended or failed, and nothing more is read. */
  ended: boolean;
}

/** This thread's open streams, by number. */
const streams = new Map<number, OpenStream>();
let nextStream = 1;

function openStream(path: string): SourceAnswer {
  try {
    const fd = openSync(path, 'r');
    const stream = nextStream++;
    streams.set(stream, { fd, hash: createHash('sha256'), position: 0, ended: false });
    return { op: 'open', stream };
  } catch (err) {
    return { op: 'open', openFailure: failureOf(err) };
  }
}

function streamOf(stream: number): OpenStream {
  const s = streams.get(stream);
  if (!s) throw new Error(`source stream ${stream} is not open`);
  return s;
}

function readPart(s: OpenStream, into: Buffer): PartRead {
  let length = 0;
  while (!s.ended && length < into.length) {
    let n: number;
    try {
      n = readSync(s.fd, into, length, into.length - length, s.position);
    } catch (err) {
      s.ended = true;
      s.hash.update(into.subarray(0, length));
      return { length, readFailure: failureOf(err) };
    }
    if (n === 0) s.ended = true;
    length += n;
    s.position += n;
  }
  s.hash.update(into.subarray(0, length));
  return { length };
}

const ZEROS = Buffer.alloc(1024 * 1024);

function closeStream(stream: number, size: number): StreamEnd {
  const s = streamOf(stream);
  streams.delete(stream);
  try {
    if (s.position < size) {
      for (let left = size - s.position; left > 0; left -= ZEROS.length) s.hash.update(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
      return { sha256: s.hash.digest('hex') };
    }
    const end: StreamEnd = { sha256: s.hash.digest('hex') };
    try {
      const after = fstatSync(s.fd);
      end.after = { size: after.size, mtimeMs: after.mtimeMs };
    } catch {
      // Without a second look the file counts as unchanged, as it did before it was read.
    }
    return end;
  } finally {
    closeSync(s.fd);
  }
}

export function failureOf(err: unknown): CallFailure {
  const code = (err as NodeJS.ErrnoException).code;
  return { code, reason: describeErrno(code) ?? String(err) };
}
