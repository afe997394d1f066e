/**
 * Sources -> entries. Depth-first, names sorted bytewise so a tree always
 * archives in the same order. Uses lstat: symlinks are archived as links,
 * never followed. Archive paths are absolute paths without the leading '/',
 * as tar writes them. Unreadable directories and vanished entries become
 * warnings, not failures; a missing source given on the command line is a
 * usage error, found before anything is written. Sources nested in other
 * sources are dropped, so nothing is archived twice.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import picomatch from 'picomatch';
import { UsageError, describeErrno } from '../errors.js';
import type { EntryType } from '../format/catalog.js';
import type { Warnings } from '../report.js';

export interface WalkEntry {
  absPath: string;
  archivePath: string;
  type: EntryType;
  stat: Stats;
  /** Symlink target, or for a hardlink the archive path of the first link. */
  link?: string;
}

export interface WalkOptions {
  excludes: string[];
  warnings: Warnings;
}

export async function checkSources(sources: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of sources) {
    const abs = resolve(s);
    try {
      await lstat(abs);
    } catch (err) {
      throw new UsageError('source-missing', `source ${s}: ${describeErrno((err as NodeJS.ErrnoException).code) ?? String(err)}`, { where: { path: s } });
    }
    if (abs === '/') throw new UsageError('source-root', 'backing up / as a whole is not supported yet', { hint: 'list the top-level directories to back up' });
    out.push(abs);
  }
  // A source inside another source would be archived twice.
  const unique = [...new Set(out)];
  return unique.filter((s) => !unique.some((other) => other !== s && s.startsWith(other + '/')));
}

export function archivePathOf(absPath: string): string {
  return absPath.replace(/^\/+/, '');
}

export async function* walk(sources: string[], opts: WalkOptions): AsyncGenerator<WalkEntry> {
  const excluded = opts.excludes.length ? picomatch(opts.excludes, { dot: true, basename: true }) : () => false;
  const seenInodes = new Map<string, string>();

  async function* visit(absPath: string): AsyncGenerator<WalkEntry> {
    const archivePath = archivePathOf(absPath);
    if (excluded(archivePath)) return;
    let st: Stats;
    try {
      st = await lstat(absPath);
    } catch (err) {
      opts.warnings.add('source-vanished', absPath, `skipped ${absPath}: ${describeErrno((err as NodeJS.ErrnoException).code) ?? String(err)}`);
      return;
    }
    const type = typeOf(st);
    if (type === undefined) {
      opts.warnings.add('source-unsupported', absPath, `skipped ${absPath}: sockets cannot be archived`);
      return;
    }
    if (type === 'symlink') {
      try {
        yield { absPath, archivePath, type, stat: st, link: await readlink(absPath) };
      } catch (err) {
        opts.warnings.add('source-unreadable', absPath, `skipped ${absPath}: ${describeErrno((err as NodeJS.ErrnoException).code) ?? String(err)}`);
      }
      return;
    }
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = seenInodes.get(key);
      if (first !== undefined) {
        yield { absPath, archivePath, type: 'hardlink', stat: st, link: first };
        return;
      }
      seenInodes.set(key, archivePath);
    }
    if (type !== 'directory') {
      yield { absPath, archivePath, type, stat: st };
      return;
    }
    let names: string[];
    try {
      names = await readdir(absPath);
    } catch (err) {
      opts.warnings.add('source-unreadable', absPath, `could not list ${absPath}: ${describeErrno((err as NodeJS.ErrnoException).code) ?? String(err)}; its contents were skipped`);
      yield { absPath, archivePath, type, stat: st };
      return;
    }
    yield { absPath, archivePath, type, stat: st };
    names.sort(bytewise);
    for (const name of names) yield* visit(join(absPath, name));
  }

  for (const source of sources) yield* visit(source);
}

function typeOf(st: Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return undefined;
}

function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
