/**
 * Sources -> entries. Depth-first, names sorted bytewise so a tree always
 * archives in the same order. Uses lstat: symlinks are archived as links,
 * never followed. Archive paths are absolute paths without the leading '/',
 * as tar writes them. Unreadable directories and vanished entries become
 * warnings, not failures; a missing source given on the command line is a
 * usage error, found before anything is written. Sources nested in other
 * sources are dropped, so nothing is archived twice.
 *
 * Each directory's children are lstat'ed in batches ahead of the walk (on
 * the source thread, source-readers.ts, when there is one), and the next
 * directory to be entered is listed while the walk is still before it, so
 * the disk is kept busy without a thread hand-off per entry; the order, the
 * hard links found and the warnings are those of a walk that lstats one at
 * a time.
 */
import { constants } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import picomatch from 'picomatch';
import { UsageError, describeErrno } from '../errors.js';
import type { EntryType } from '../format/catalog.js';
import type { Warnings } from '../report.js';
import type { EntryStat, StatResult } from './source-jobs.js';
import { inProcessReader } from './source-readers.js';
import type { SourceReader } from './source-readers.js';

export interface WalkEntry {
  absPath: string;
  archivePath: string;
  type: EntryType;
  stat: EntryStat;
  /** Symlink target, or for a hardlink the archive path of the first link. */
  link?: string;
}

export interface WalkOptions {
  excludes: string[];
  warnings: Warnings;
  /** Where lstat runs; in-process unless given. */
  reader?: Pick<SourceReader, 'lstat'>;
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
  const reader = opts.reader ?? inProcessReader;
  const seenInodes = new Map<string, string>();
  /** Directories being walked, innermost last, each with its children lstat'ed ahead. */
  const open: Listing[] = [];

  /** The entry for one path given its lstat, or undefined (with a warning) if it is skipped. */
  function entryFor(absPath: string, r: StatResult): WalkEntry | undefined {
    if ('failure' in r) {
      opts.warnings.add('source-vanished', absPath, `skipped ${absPath}: ${r.failure.reason}`);
      return undefined;
    }
    const st = r.stat;
    const archivePath = archivePathOf(absPath);
    const type = typeOf(st);
    if (type === undefined) {
      opts.warnings.add('source-unsupported', absPath, `skipped ${absPath}: sockets cannot be archived`);
      return undefined;
    }
    if (type === 'symlink') {
      if (r.linkFailure) {
        opts.warnings.add('source-unreadable', absPath, `skipped ${absPath}: ${r.linkFailure.reason}`);
        return undefined;
      }
      return { absPath, archivePath, type, stat: st, link: r.link! };
    }
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = seenInodes.get(key);
      if (first !== undefined) return { absPath, archivePath, type: 'hardlink', stat: st, link: first };
      seenInodes.set(key, archivePath);
    }
    return { absPath, archivePath, type, stat: st };
  }

  /** A directory's children, their first lstat batches asked for; or why it cannot be listed. */
  function listingOf(dir: string): Promise<Listing | NodeJS.ErrnoException> {
    return readdir(dir).then(
      (names) => {
        const paths: string[] = [];
        for (const name of names.sort(utf8Order)) {
          const path = join(dir, name);
          if (!excluded(archivePathOf(path))) paths.push(path);
        }
        return new Listing(paths, reader);
      },
      (err: NodeJS.ErrnoException) => err,
    );
  }

  /**
   * Directories the walk will enter, listed while it takes the entries
   * before them: otherwise the walk stops at every directory for its readdir
   * and its first lstat batch, which queues behind the reads on the source
   * thread (0.9 s of waiting in a 100,000-file backup, on a warm cache).
   * Each holds its directory's names, as the listing being walked does.
   */
  const ahead = new Map<string, Promise<Listing | NodeJS.ErrnoException>>();

  /**
   * Lists ahead the next directory at each level of the walk, innermost
   * first, while fewer than DIRECTORIES_AHEAD are. The innermost one is
   * entered first; the others are entered later, but surely, so none is
   * listed for nothing.
   */
  function listAhead(): void {
    for (let level = open.length - 1; level >= 0 && ahead.size < DIRECTORIES_AHEAD; level--) {
      const next = open[level]!.nextDirectory();
      if (typeof next === 'string' && !ahead.has(next)) ahead.set(next, listingOf(next));
    }
  }

  /** Starts walking a directory's children, or warns that they are skipped. */
  async function list(dir: string): Promise<void> {
    const listed = ahead.get(dir) ?? listingOf(dir);
    ahead.delete(dir);
    const listing = await listed;
    if (listing instanceof Listing) open.push(listing);
    else opts.warnings.add('source-unreadable', dir, `could not list ${dir}: ${describeErrno(listing.code) ?? String(listing)}; its contents were skipped`);
  }

  for (const source of sources) {
    if (excluded(archivePathOf(source))) continue;
    // A directory is listed before it is yielded, so a listing failure is warned about before its entry.
    const first = entryFor(source, (await reader.lstat([source]))[0]!);
    if (first?.type === 'directory') await list(source);
    if (first) yield first;
    while (open.length) {
      const listing = open[open.length - 1]!;
      if (listing.done) {
        open.pop();
        continue;
      }
      listAhead();
      const { path, stat } = listing.next() ?? (await listing.waitNext());
      const entry = entryFor(path, stat);
      if (entry?.type === 'directory') await list(path);
      if (entry) yield entry;
    }
  }
}

/**
 * Children lstat'ed per batch; the batch after the one being walked is
 * already asked for. 256 rather than 64: a 100,000-file backup took a median
 * 4.9 s against 5.1 s, as the walk waited less often behind a batch of reads.
 */
const LSTAT_BATCH = 256;

/**
 * Listings made ahead of the walk, at most: with one, the next directory was
 * often listed only once its predecessor's last lstat batch came back, a
 * millisecond before the walk needed it; with two, the parent's next
 * directory is listed as the walk enters the one before it.
 */
const DIRECTORIES_AHEAD = 2;

/** What Listing.nextDirectory says while the lstats it needs are not answered yet. */
const UNKNOWN = Symbol('unknown');

/** One directory's children in walk order, lstat'ed in batches ahead of the walk. */
class Listing {
  private readonly stats: (StatResult | undefined)[];
  private readonly batches = new Map<number, Promise<void>>();
  private taken = 0;
  /** Children from `taken` up to this one are known not to be directories. */
  private scanned = 0;

  constructor(
    private readonly paths: string[],
    private readonly reader: Pick<SourceReader, 'lstat'>,
  ) {
    this.stats = new Array(paths.length);
    this.askAhead();
  }

  get done(): boolean {
    return this.taken === this.paths.length;
  }

  /** The next child and its lstat, if that batch has been answered. */
  next(): { path: string; stat: StatResult } | undefined {
    const stat = this.stats[this.taken];
    if (stat === undefined) return undefined;
    const path = this.paths[this.taken]!;
    this.stats[this.taken++] = undefined;
    if (this.taken % LSTAT_BATCH === 0) {
      this.batches.delete(this.taken / LSTAT_BATCH - 1);
      this.askAhead();
    }
    return { path, stat };
  }

  /** The first child not taken yet that is a directory; undefined if there is none. */
  nextDirectory(): string | undefined | typeof UNKNOWN {
    this.scanned = Math.max(this.scanned, this.taken);
    for (; this.scanned < this.paths.length; this.scanned++) {
      const r = this.stats[this.scanned];
      if (r === undefined) return UNKNOWN;
      if ('stat' in r && (r.stat.mode & constants.S_IFMT) === constants.S_IFDIR) return this.paths[this.scanned];
    }
    return undefined;
  }

  async waitNext(): Promise<{ path: string; stat: StatResult }> {
    await this.batches.get(Math.floor(this.taken / LSTAT_BATCH));
    return this.next()!;
  }

  /** Asks for the batch being walked and the one after it, unless asked already. */
  private askAhead(): void {
    const current = Math.floor(this.taken / LSTAT_BATCH);
    for (const batch of [current, current + 1]) {
      const from = batch * LSTAT_BATCH;
      if (from >= this.paths.length || this.batches.has(batch)) continue;
      const answered = this.reader.lstat(this.paths.slice(from, from + LSTAT_BATCH)).then((results) => {
        for (const [i, r] of results.entries()) this.stats[from + i] = r;
      });
      answered.catch(() => {}); // awaited by waitNext when its turn comes; the walk may stop before
      this.batches.set(batch, answered);
    }
  }
}

function typeOf(st: EntryStat): EntryType | undefined {
  switch (st.mode & constants.S_IFMT) {
    case constants.S_IFREG: return 'file';
    case constants.S_IFDIR: return 'directory';
    case constants.S_IFLNK: return 'symlink';
    case constants.S_IFIFO: return 'fifo';
    case constants.S_IFCHR: return 'char-device';
    case constants.S_IFBLK: return 'block-device';
    default: return undefined;
  }
}

/**
 * Orders names as their UTF-8 bytes compare, without encoding them. UTF-16
 * code units already compare like code points (hence like UTF-8) except that
 * surrogates (0xD800-0xDFFF, code points above 0xFFFF) sort below 0xE000-0xFFFF;
 * moving them above restores code point order.
 */
function utf8Order(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 || y < 0xd800) return x - y;
    return aboveBmpLast(x) - aboveBmpLast(y);
  }
  return a.length - b.length;
}

function aboveBmpLast(unit: number): number {
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}
