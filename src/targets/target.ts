/**
 * Where bytes go. The pipeline sees only this interface; a new kind of
 * storage (tape, S3, SFTP) is a new implementation, chosen by URL in
 * `openTarget`, and never a change to the pipeline.
 *
 * Names are relative, '/'-separated: `SET/manifest`, `SET/volume-000001`.
 * `put` is all-or-nothing on targets with `atomicPut`: a failed or
 * interrupted put leaves no object under the final name.
 */
import { UsageError } from '../errors.js';
import { LocalDirTarget } from './local-dir.js';

export interface TargetProps {
  /** Reads and writes must be in order (tape). */
  sequential: boolean;
  /** A put either lands whole under its name or not at all. */
  atomicPut: boolean;
  /** Useful number of transfers at once. */
  connections: number;
}

/**
 * Bytes as they are read. A source that can reuse its buffers offers
 * `recycle`: a caller that is done with a buffer (it holds no view of it)
 * may hand it back, and the source may then read into it again.
 */
export interface ByteSource extends AsyncIterable<Uint8Array> {
  recycle?(b: Uint8Array): void;
}

export interface Target {
  /** For messages: never contains credentials. */
  readonly display: string;
  readonly props: TargetProps;
  /**
   * Stores what `source` yields. Each buffer is the target's only until it
   * pulls the next (the writer then reuses its memory): one that must keep
   * bytes longer, to batch them into larger writes, copies them.
   */
  put(name: string, source: AsyncIterable<Uint8Array>): Promise<{ size: number }>;
  /** An object's bytes, in order. Throws a TargetError with code 'not-found' when the object is absent. */
  get(name: string, range?: { start: number; end?: number }): Promise<ByteSource>;
  /** Size of an object, or undefined when absent. */
  size(name: string): Promise<number | undefined>;
  /** All object names under a prefix (recursively), sorted. */
  list(prefix: string): Promise<string[]>;
  remove(name: string): Promise<void>;
}

export function openTarget(spec: string, opts: { create: boolean }): Promise<Target> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === 'file') {
    const path = scheme === 'file' ? new URL(spec).pathname : spec;
    return LocalDirTarget.open(path, opts);
  }
  throw new UsageError('unsupported-target', `target ${redactUrl(spec)}: ${scheme}: targets are not supported yet`, {
    hint: 'use a local directory path',
  });
}

/** Removes any password from a URL before it appears in a message or a log. */
export function redactUrl(spec: string): string {
  try {
    const u = new URL(spec);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return spec;
  }
}
