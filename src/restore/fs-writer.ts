/**
 * Archive entries -> files under the restore folder.
 *
 * Regular files are written by FileWriters (file-writers.ts), on threads
 * when there are any, so several are in flight while the archive is read
 * on. An entry whose name, or a folder above it, is a file still in flight
 * (or a hardlink to one) waits for those to settle first: each entry sees
 * the tree as a one-at-a-time restore would. Everything else is done here
 * with synchronous calls, which are short (docs/PERFORMANCE.md).
 *
 * Guarantees: nothing is written outside the folder. Names that are
 * absolute, contain '..' or NUL, or lead through a symlink or a non-
 * directory are refused and reported; hardlinks must point at a regular
 * file already restored inside the folder. A file's bytes go to a temporary
 * name in its final directory (O_EXCL), its hash is checked against the
 * catalog, its metadata is set through the open descriptor, and only then
 * is it renamed into place, so a failed or interrupted restore never leaves
 * a corrupt file under its final name. Into a folder that was empty, the
 * whole restore goes through a staging folder instead (staging.ts), where
 * files are created under their own names. Directory modes and times are
 * applied last, deepest first (memory grows with the number of directories).
 * Ownership is restored when running as root, by numeric id.
 *
 * What the archive holds is never reported as a failure of the disk: an id
 * or time that is not one is left as restored, with a warning; an empty or
 * NUL symlink target, a device number the kernel cannot hold, and a name
 * too long for the file system are refused, like unsafe names.
 */
import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, renameSync, symlinkSync, unlinkSync, utimesSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { IntegrityError, TargetError, ioError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Warnings } from '../report.js';
import type { ArchiveEntry } from './untar.js';
import { FileWriters } from './file-writers.js';
import type { FileOutcome, SyscallFailure } from './file-jobs.js';
import { idOf, mtimeOf } from './entry-meta.js';
import { tempName } from './staging.js';
import type { Staging } from './staging.js';

const execFileAsync = promisify(execFile);
/** Read once: a file's mode that it leaves whole can be given at creation. */
const UMASK = process.umask();

export interface Refusal {
  path: string;
  reason: string;
}

interface DirMeta {
  /** Below the restore folder. */
  rel: string;
  mode: number;
  /** Absent when the archive's time is not one (left as restored). */
  mtime: Date | undefined;
  /** -1: not set (not root, or the archive's id is not one). */
  uid: number;
  gid: number;
}

/** What is applied to an entry once written; see FsWriter.meta. */
interface EntryMeta {
  mtime: Date | undefined;
  uid: number;
  gid: number;
}

/** A name of one part that safeComponents keeps as it is. */
function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** Splits an archive name into safe components, or says why it is refused. */
export function safeComponents(name: string): string[] | string {
  if (name.includes('\0')) return 'name contains a NUL byte';
  if (name.startsWith('/')) return 'absolute path';
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return 'path contains ..';
  if (parts.length === 0) return 'empty path';
  return parts;
}

export class FsWriter {
  readonly refused: Refusal[] = [];
  /** Where entries are written: the restore folder, or the staging folder in it. */
  private readonly root: string;
  private readonly dirs: DirMeta[] = [];
  private readonly checkedDirs = new Set<string>();
  /** The folder part of the last name that had one, as the archive spells it, and where that folder is. */
  private lastFolder = '';
  private lastFolderAbs = '';
  private readonly asRoot = process.getuid?.() === 0;
  /** Final names of files handed to the writers whose outcome has not come back. */
  private readonly inFlight = new Set<string>();
  /**
   * The failure of a file written in the background that comes first in the
   * archive (outcomes arrive in any order), thrown at the next write or at
   * finish once the files in flight have settled.
   */
  private failure: { entry: number; error: Error } | undefined;
  private entries = 0;
  /** Regular files written (not links or special files), as backup and verify count them. */
  files = 0;
  bytes = 0;

  constructor(
    /** The restore folder. */
    private readonly folder: string,
    private readonly warnings: Warnings,
    private readonly log: Logger,
    private readonly writers: FileWriters = new FileWriters(),
    private readonly staging?: Staging,
  ) {
    this.root = staging?.dir ?? folder;
  }

  /** Writes the entry; without a promise when nothing had to wait, as for most small files. */
  write(e: ArchiveEntry): Promise<void> | undefined {
    if (this.failure) return this.throwIfFailed();
    try {
      const done = this.writeEntry(e);
      return done?.catch((err: unknown) => this.refuseIfTooLong(e, err));
    } catch (err) {
      return this.refuseIfTooLong(e, err);
    }
  }

  /** A name part past NAME_MAX, or a path past PATH_MAX under this folder: this entry cannot be made here. */
  private refuseIfTooLong(e: ArchiveEntry, err: unknown): Promise<void> {
    if (err instanceof TargetError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENAMETOOLONG') return this.refuse(e, 'name too long for this file system');
    throw err;
  }

  private writeEntry(e: ArchiveEntry): Promise<void> | undefined {
    if (e.path === '.' || e.path === '') return drain(e.body); // the archive's root: the restore folder itself
    // Most entries are in the folder of the entry before: its name was checked and the folder made.
    const slash = e.path.lastIndexOf('/');
    if (slash === this.lastFolder.length && slash > 0 && e.path.startsWith(this.lastFolder) && e.header.type !== 'link') {
      const name = e.path.slice(slash + 1);
      const abs = `${this.lastFolderAbs}/${name}`;
      if (isPlainName(name) && !(this.inFlight.size && this.inFlight.has(abs))) return this.writeAt(e, this.lastFolderAbs, abs);
    }
    const parts = safeComponents(e.path);
    if (typeof parts === 'string') return this.refuse(e, parts);
    if (this.inFlight.size && this.touchesInFlight(parts, e.header.type === 'link' ? e.header.linkname : null, true)) return this.writeOnceSettled(e, parts);
    return this.writeIn(e, parts);
  }

  private async writeOnceSettled(e: ArchiveEntry, parts: string[]): Promise<void> {
    await this.writers.settled();
    await this.throwIfFailed();
    return this.writeIn(e, parts);
  }

  private writeIn(e: ArchiveEntry, parts: string[]): Promise<void> | undefined {
    const parent = this.parentDir(parts);
    if (typeof parent === 'object') return this.refuse(e, parent.reason);
    // Only when the name's last part is the entry's own (not "a/b/."): then its folder part is `parent`.
    const slash = e.path.lastIndexOf('/');
    if (slash > 0 && isPlainName(e.path.slice(slash + 1))) {
      this.lastFolder = e.path.slice(0, slash);
      this.lastFolderAbs = parent;
    }
    return this.writeAt(e, parent, `${parent}/${parts[parts.length - 1]!}`);
  }

  private writeAt(e: ArchiveEntry, parent: string, abs: string): Promise<void> | undefined {
    const h = e.header;
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        return this.writeFile(e, abs, parent);
      case 'directory':
        return this.makeDir(e, abs);
      case 'symlink':
        if (!h.linkname) return this.refuse(e, 'symlink has an empty target');
        if (h.linkname.includes('\0')) return this.refuse(e, 'symlink target contains a NUL byte');
        return this.replaceWith(e, abs, parent, (tmp) => symlinkSync(h.linkname ?? '', tmp), true);
      case 'link':
        return this.hardlink(e, abs, parent);
      case 'fifo':
        return this.replaceWith(e, abs, parent, (tmp) => execFileAsync('mkfifo', ['-m', '600', tmp]));
      case 'character-device':
      case 'block-device':
        if (!this.asRoot) {
          this.warnings.add('special-file-skipped', e.path, `skipped device ${e.path}: only root can create device nodes`);
          return drain(e.body);
        }
        // Linux device numbers are 12-bit major, 20-bit minor; mknod fails (EINVAL) on anything else.
        if (!deviceNumber(h.devmajor, 0xfff) || !deviceNumber(h.devminor, 0xfffff)) return this.refuse(e, `invalid device number ${String(h.devmajor)},${String(h.devminor)}`);
        return this.replaceWith(e, abs, parent, (tmp) => execFileAsync('mknod', [tmp, h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)]));
      default:
        this.warnings.add('entry-type-skipped', e.path, `skipped ${e.path}: unsupported entry type ${String(h.type)}`);
        return drain(e.body);
    }
  }

  /**
   * Waits for the files in flight, moves what was staged into place, then
   * applies directory metadata, deepest first (after the move: renaming a
   * folder into another needs write permission on it).
   */
  async finish(): Promise<void> {
    await this.writers.settled();
    await this.throwIfFailed();
    this.staging?.publish();
    for (const { rel, ...d } of this.dirs.reverse()) {
      const abs = `${this.folder}/${rel}`;
      try {
        if (this.asRoot) chownSync(abs, d.uid, d.gid);
        chmodSync(abs, d.mode);
        if (d.mtime) utimesSync(abs, d.mtime, d.mtime);
      } catch (err) {
        throw ioError('set metadata of', abs, err);
      }
    }
  }

  /**
   * After a restore that failed, once the writers are closed: what was
   * staged is complete and checked, so it is moved into place, as a restore
   * into a folder in use keeps what it completed. If that fails too, the
   * staging folder stays, and the log says where.
   */
  keepCompleted(): void {
    try {
      this.staging?.publish();
    } catch (err) {
      this.log.error({ event: 'restore-staging-kept', staging: this.staging?.dir }, (err as Error).message);
    }
  }

  /** A path under the staging folder as it will be once in place: what a person looking for it needs. */
  private shown(abs: string): string {
    return this.staging && abs.startsWith(`${this.root}/`) ? `${this.folder}${abs.slice(this.root.length)}` : abs;
  }

  private async refuse(e: ArchiveEntry, reason: string): Promise<void> {
    this.recordRefusal(e.path, reason);
    await drain(e.body);
  }

  private recordRefusal(path: string, reason: string): void {
    this.refused.push({ path, reason });
    this.log.error({ event: 'restore-path-refused', path, reason }, 'refused archive entry');
  }

  /**
   * Whether the entry's name, a folder above it, or its hardlink target is a
   * file still in flight. Above a folder already checked to be one, nothing
   * in flight can matter: a file renamed onto a folder fails (and is refused).
   */
  private touchesInFlight(parts: string[], linkname: string | null, isEntry: boolean): boolean {
    const parent = parts.length > 1 ? `${this.root}/${parts.slice(0, -1).join('/')}` : this.root;
    if (this.inFlight.has(`${parent}/${parts[parts.length - 1]!}`)) return true;
    if (!this.checkedDirs.has(parent)) {
      let abs = this.root;
      for (const part of parts.slice(0, -1)) {
        abs = `${abs}/${part}`;
        if (this.inFlight.has(abs)) return true;
      }
    }
    if (!isEntry || linkname === null) return false;
    const target = safeComponents(linkname);
    return Array.isArray(target) && this.touchesInFlight(target, null, false);
  }

  /** Creates (or checks) every directory above the entry; returns its absolute path or why it is refused. */
  private parentDir(parts: string[]): string | { reason: string } {
    // Safe components hold no '/', '.' or '..': plain concatenation is the normalised path.
    const dirs = parts.slice(0, -1);
    if (!dirs.length) return this.root;
    const parent = `${this.root}/${dirs.join('/')}`;
    if (this.checkedDirs.has(parent)) return parent;
    let abs = this.root;
    for (const part of dirs) {
      abs = `${abs}/${part}`;
      if (this.checkedDirs.has(abs)) continue;
      try {
        const st = lstatSync(abs);
        if (st.isSymbolicLink()) return { reason: `leads through the symlink ${abs.slice(this.root.length + 1)}` };
        if (!st.isDirectory()) return { reason: `leads through ${abs.slice(this.root.length + 1)}, which is not a directory` };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('inspect', this.shown(abs), err);
        try {
          mkdirSync(abs, { mode: 0o700 });
        } catch (e) {
          throw ioError('create directory', this.shown(abs), e);
        }
      }
      this.checkedDirs.add(abs);
    }
    return abs;
  }

  private async makeDir(e: ArchiveEntry, abs: string): Promise<void> {
    await drain(e.body);
    try {
      const st = lstatIfAny(abs);
      if (st && !st.isDirectory()) return this.refuse(e, 'a non-directory of that name is already there');
      if (!st) mkdirSync(abs, { mode: 0o700 });
    } catch (err) {
      throw ioError('create directory', this.shown(abs), err);
    }
    this.checkedDirs.add(abs);
    const h = e.header;
    this.dirs.push({ rel: abs.slice(this.root.length + 1), mode: (h.mode ?? 0o755) & 0o7777, ...this.meta(e) });
  }

  private writeFile(e: ArchiveEntry, abs: string, parent: string): Promise<void> | undefined {
    const mode = (e.header.mode ?? 0o644) & 0o7777;
    // In a staging folder (mode 0700) a file is created under its own name (its lane makes up a temporary
    // one if that is taken), with its mode when the umask leaves it whole and no set-id bit needs a chmod
    // after the chown: it may have that mode while still being written.
    const modeAtCreation = (mode & ~0o777) === 0 && (mode & UMASK) === 0 ? mode : undefined;
    const id = this.staging ? this.writers.begin(undefined, abs, modeAtCreation) : this.writers.begin(tempName(parent));
    try {
      for (let next = e.nextPiece(); next !== null; next = e.nextPiece()) {
        if (next instanceof Promise) return this.writeFileLater(e, id, abs, mode, next);
        this.writers.data(id, next);
        if (this.writers.full) return this.writeFileLater(e, id, abs, mode, null);
      }
    } catch (err) {
      this.writers.abort(id);
      throw err;
    }
    this.endFile(e, id, abs, mode);
    return undefined;
  }

  /** The rest of a file whose bytes are not all here yet, or that must wait for room: `pending` is its next piece. */
  private async writeFileLater(e: ArchiveEntry, id: number, abs: string, mode: number, pending: Promise<Buffer> | null): Promise<void> {
    try {
      if (pending) this.writers.data(id, await pending);
      if (this.writers.full) await this.writers.room();
      for (let next = e.nextPiece(); next !== null; next = e.nextPiece()) {
        this.writers.data(id, next instanceof Promise ? await next : next);
        if (this.writers.full) await this.writers.room();
      }
    } catch (err) {
      this.writers.abort(id);
      throw err;
    }
    this.endFile(e, id, abs, mode);
  }

  private endFile(e: ArchiveEntry, id: number, abs: string, mode: number): void {
    const m = this.meta(e);
    // -1: leave as created. In a staging folder a new file's owner is known (Staging.newFileOwner): no chown when it is the one wanted.
    const owner = this.staging?.newFileOwner;
    const chown = this.asRoot && !(owner && owner.uid === m.uid && owner.gid === m.gid);
    const meta = { mode, uid: chown ? m.uid : -1, gid: chown ? m.gid : -1, mtimeMs: m.mtime ? m.mtime.getTime() : null };
    const expected = e.expected ? { sha256: e.expected.sha256 ?? '', size: e.expected.size } : null;
    this.inFlight.add(abs);
    const entry = this.entries++;
    const path = e.path; // not the entry: its header and record need not live until the outcome
    this.writers.endThen(id, abs, meta, expected, (o) => {
      this.inFlight.delete(abs);
      this.fileWritten(entry, path, abs, o);
    });
  }

  private async throwIfFailed(): Promise<void> {
    if (!this.failure) return;
    // An entry before it may still be in flight and fail too: the earliest is the one to report.
    await this.writers.settled().catch(() => {});
    throw this.failure.error;
  }

  private failed(entry: number, error: Error): void {
    if (!this.failure || entry < this.failure.entry) this.failure = { entry, error };
  }

  private fileWritten(entry: number, path: string, abs: string, o: FileOutcome): void {
    switch (o.status) {
      case 'written':
        this.files++;
        this.bytes += o.size;
        return;
      case 'is-directory':
        return this.recordRefusal(path, 'a directory of that name is already there');
      case 'mismatch':
        return this.failed(entry, new IntegrityError('file-hash-mismatch', `${path}: restored content does not match the catalog's hash`, { where: { path } }));
      case 'failed':
        // A name part past NAME_MAX, or a path past PATH_MAX under this folder: this entry cannot be made here.
        if (o.failure.code === 'ENAMETOOLONG') return this.recordRefusal(path, 'name too long for this file system');
        return this.failed(entry, o.failure.stage === 'create' ? ioError('create', this.shown(o.failure.path ?? abs), errorOf(o.failure), { path }) : ioError('write', this.shown(abs), errorOf(o.failure), { path }));
    }
  }

  /** Renames over whatever is at `abs`, except a directory: false then, and nothing changed. */
  private renameIntoPlace(tmp: string, abs: string): boolean {
    try {
      renameSync(tmp, abs);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') return false;
      throw err;
    }
  }

  private async hardlink(e: ArchiveEntry, abs: string, parent: string): Promise<void> {
    await drain(e.body);
    const parts = safeComponents(e.header.linkname ?? '');
    if (typeof parts === 'string') return this.refuse(e, `hardlink target: ${parts}`);
    const targetParent = this.parentDir(parts);
    if (typeof targetParent === 'object') return this.refuse(e, `hardlink target ${targetParent.reason}`);
    const source = `${targetParent}/${parts[parts.length - 1]!}`;
    const st = lstatQuietly(source);
    if (!st) {
      this.warnings.add('hardlink-target-missing', e.path, `skipped hardlink ${e.path}: its target ${e.header.linkname} was not restored`);
      return;
    }
    if (!st.isFile()) return this.refuse(e, 'hardlink target is not a regular file');
    // Already a link to that file (an earlier restore): rename(2) of two links to one inode does
    // nothing and would leave the temporary behind.
    const existing = lstatQuietly(abs);
    if (existing && existing.ino === st.ino && existing.dev === st.dev) return;
    await this.replaceWith(e, abs, parent, (tmp) => linkSync(source, tmp));
  }

  /** Creates the entry under a temporary name with `make`, sets metadata, renames it into place. */
  private async replaceWith(e: ArchiveEntry, abs: string, parent: string, make: (tmp: string) => unknown, isSymlink = false): Promise<void> {
    await drain(e.body);
    const tmp = tempName(parent);
    const h = e.header;
    try {
      await make(tmp);
      if (isSymlink) {
        const m = this.meta(e);
        if (this.asRoot) lchownSync(tmp, m.uid, m.gid);
        if (m.mtime) lutimesSync(tmp, m.mtime, m.mtime);
      } else if (h.type !== 'link') {
        const m = this.meta(e);
        if (this.asRoot) chownSync(tmp, m.uid, m.gid);
        chmodSync(tmp, (h.mode ?? 0o644) & 0o7777);
        if (m.mtime) utimesSync(tmp, m.mtime, m.mtime);
      }
      if (!this.renameIntoPlace(tmp, abs)) {
        unlinkQuietly(tmp);
        return this.refuse(e, 'a directory of that name is already there');
      }
    } catch (err) {
      unlinkQuietly(tmp);
      throw ioError('create', this.shown(abs), err, { path: e.path });
    }
  }

  /**
   * Owner and time to apply. A corrupt header can hold a number that is not
   * an id or a time (NaN, negative, past 2^32 or the Date range): that one
   * is left as restored, with a warning, rather than failing the restore
   * as if the disk had.
   */
  private meta(e: ArchiveEntry): EntryMeta {
    const mtime = mtimeOf(e.header);
    if (!mtime) this.warnings.add('entry-mtime-invalid', e.path, `${e.path}: its modification time in the archive is not a valid time; left as restored`);
    if (!this.asRoot) return { mtime, uid: -1, gid: -1 };
    const uid = idOf(e.header, 'uid');
    const gid = idOf(e.header, 'gid');
    if (uid === undefined || gid === undefined) this.warnings.add('entry-owner-invalid', e.path, `${e.path}: its owner in the archive is not a valid user or group id; left as restored`);
    return { mtime, uid: uid ?? -1, gid: gid ?? -1 };
  }
}

function deviceNumber(n: number | null | undefined, max: number): boolean {
  return n === undefined || n === null || (Number.isSafeInteger(n) && n >= 0 && n <= max);
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of body) void _;
}

function errorOf(f: SyscallFailure): Error {
  return Object.assign(new Error(f.message), { code: f.code, syscall: f.syscall });
}

function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** undefined whatever the reason it cannot be inspected. */
function lstatQuietly(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // nothing there, or the directory went away: nothing left to clean
  }
}
