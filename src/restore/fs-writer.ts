/**
 * Archive entries -> files under the restore folder.
 *
 * Guarantees: nothing is written outside the folder. Names that are
 * absolute, contain '..' or NUL, or lead through a symlink or a non-
 * directory are refused and reported; hardlinks must point at a regular
 * file already restored inside the folder. A file's bytes go to a temporary
 * name in its final directory (O_EXCL), its hash is checked against the
 * catalog, its metadata is set through the open descriptor, and only then
 * is it renamed into place, so a failed or interrupted restore never leaves
 * a corrupt file under its final name. Directory modes and times are applied
 * last, deepest first (memory grows with the number of directories).
 * Ownership is restored when running as root, by numeric id.
 *
 * What the archive holds is never reported as a failure of the disk: an id
 * or time that is not one is left as restored, with a warning; an empty or
 * NUL symlink target, a device number the kernel cannot hold, and a name
 * too long for the file system are refused, like unsafe names.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, link, mkdir, open, rename, symlink, unlink, lchown, lutimes, chmod, chown, utimes } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { IntegrityError, TargetError, ioError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Warnings } from '../report.js';
import type { ArchiveEntry, EntryHeader } from './untar.js';

const execFileAsync = promisify(execFile);

export interface Refusal {
  path: string;
  reason: string;
}

interface DirMeta {
  abs: string;
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
  private readonly dirs: DirMeta[] = [];
  private readonly checkedDirs = new Set<string>();
  private readonly asRoot = process.getuid?.() === 0;
  /** Regular files written (not links or special files), as backup and verify count them. */
  files = 0;
  bytes = 0;

  constructor(
    private readonly root: string,
    private readonly warnings: Warnings,
    private readonly log: Logger,
  ) {}

  async write(e: ArchiveEntry): Promise<void> {
    try {
      await this.writeEntry(e);
    } catch (err) {
      // A name part past NAME_MAX, or a path past PATH_MAX under this folder: this entry cannot be made here.
      if (err instanceof TargetError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENAMETOOLONG') return this.refuse(e, 'name too long for this file system');
      throw err;
    }
  }

  private async writeEntry(e: ArchiveEntry): Promise<void> {
    if (e.path === '.' || e.path === '') return drain(e.body); // the archive's root: the restore folder itself
    const parts = safeComponents(e.path);
    if (typeof parts === 'string') return this.refuse(e, parts);
    const parent = await this.parentDir(parts);
    if (typeof parent === 'object') return this.refuse(e, parent.reason);
    const abs = join(parent, parts[parts.length - 1]!);
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
        return this.replaceWith(e, abs, parent, (tmp) => symlink(h.linkname ?? '', tmp), true);
      case 'link':
        return this.hardlink(e, abs, parent);
      case 'fifo':
        return this.replaceWith(e, abs, parent, (tmp) => execFileAsync('mkfifo', ['-m', '600', tmp]).then(() => undefined));
      case 'character-device':
      case 'block-device':
        if (!this.asRoot) {
          this.warnings.add('special-file-skipped', e.path, `skipped device ${e.path}: only root can create device nodes`);
          return drain(e.body);
        }
        // Linux device numbers are 12-bit major, 20-bit minor; mknod fails (EINVAL) on anything else.
        if (!deviceNumber(h.devmajor, 0xfff) || !deviceNumber(h.devminor, 0xfffff)) return this.refuse(e, `invalid device number ${String(h.devmajor)},${String(h.devminor)}`);
        return this.replaceWith(e, abs, parent, (tmp) =>
          execFileAsync('mknod', [tmp, h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)]).then(() => undefined));
      default:
        this.warnings.add('entry-type-skipped', e.path, `skipped ${e.path}: unsupported entry type ${String(h.type)}`);
        return drain(e.body);
    }
  }

  /** Applies directory metadata, deepest first, once every entry is written. */
  async finish(): Promise<void> {
    for (const d of this.dirs.reverse()) {
      try {
        if (this.asRoot) await chown(d.abs, d.uid, d.gid);
        await chmod(d.abs, d.mode);
        if (d.mtime) await utimes(d.abs, d.mtime, d.mtime);
      } catch (err) {
        throw ioError('set metadata of', d.abs, err);
      }
    }
  }

  private async refuse(e: ArchiveEntry, reason: string): Promise<void> {
    this.refused.push({ path: e.path, reason });
    this.log.error({ event: 'restore-path-refused', path: e.path, reason }, 'refused archive entry');
    await drain(e.body);
  }

  /** Creates (or checks) every directory above the entry; returns its absolute path or why it is refused. */
  private async parentDir(parts: string[]): Promise<string | { reason: string }> {
    let abs = this.root;
    for (const part of parts.slice(0, -1)) {
      abs = join(abs, part);
      if (this.checkedDirs.has(abs)) continue;
      try {
        const st = await lstat(abs);
        if (st.isSymbolicLink()) return { reason: `leads through the symlink ${abs.slice(this.root.length + 1)}` };
        if (!st.isDirectory()) return { reason: `leads through ${abs.slice(this.root.length + 1)}, which is not a directory` };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('inspect', abs, err);
        try {
          await mkdir(abs, { mode: 0o700 });
        } catch (e) {
          throw ioError('create directory', abs, e);
        }
      }
      this.checkedDirs.add(abs);
    }
    return abs;
  }

  private async makeDir(e: ArchiveEntry, abs: string): Promise<void> {
    await drain(e.body);
    try {
      const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
      if (st && !st.isDirectory()) return this.refuse(e, 'a non-directory of that name is already there');
      if (!st) await mkdir(abs, { mode: 0o700 });
    } catch (err) {
      throw ioError('create directory', abs, err);
    }
    this.checkedDirs.add(abs);
    const h = e.header;
    this.dirs.push({ abs, mode: (h.mode ?? 0o755) & 0o7777, ...this.meta(e) });
  }

  private async writeFile(e: ArchiveEntry, abs: string, parent: string): Promise<void> {
    const h = e.header;
    const tmp = tempName(parent);
    let handle;
    try {
      handle = await open(tmp, 'wx', 0o600);
    } catch (err) {
      await drain(e.body);
      throw ioError('create', tmp, err, { path: e.path });
    }
    let ok = false;
    try {
      const hash = createHash('sha256');
      let size = 0;
      for await (const piece of e.body as AsyncIterable<Buffer>) {
        hash.update(piece);
        size += piece.length;
        let off = 0;
        while (off < piece.length) off += (await handle.write(piece, off, piece.length - off)).bytesWritten;
      }
      const sha256 = hash.digest('hex');
      if (e.expected && (e.expected.sha256 !== sha256 || e.expected.size !== size)) {
        throw new IntegrityError('file-hash-mismatch', `${e.path}: restored content does not match the catalog's hash`, { where: { path: e.path } });
      }
      const m = this.meta(e);
      if (this.asRoot) await handle.chown(m.uid, m.gid);
      await handle.chmod((h.mode ?? 0o644) & 0o7777);
      if (m.mtime) await handle.utimes(m.mtime, m.mtime);
      await handle.close();
      handle = undefined;
      if ((await lstat(abs).catch(() => undefined))?.isDirectory()) return this.refuse(e, 'a directory of that name is already there');
      await rename(tmp, abs);
      ok = true;
      this.files++;
      this.bytes += size;
    } catch (err) {
      throw err instanceof IntegrityError ? err : ioError('write', abs, err, { path: e.path });
    } finally {
      await handle?.close().catch(() => {});
      if (!ok) await unlink(tmp).catch(() => {});
    }
  }

  private async hardlink(e: ArchiveEntry, abs: string, parent: string): Promise<void> {
    await drain(e.body);
    const parts = safeComponents(e.header.linkname ?? '');
    if (typeof parts === 'string') return this.refuse(e, `hardlink target: ${parts}`);
    const targetParent = await this.parentDir(parts);
    if (typeof targetParent === 'object') return this.refuse(e, `hardlink target ${targetParent.reason}`);
    const source = join(targetParent, parts[parts.length - 1]!);
    const st = await lstat(source).catch(() => undefined);
    if (!st) {
      this.warnings.add('hardlink-target-missing', e.path, `skipped hardlink ${e.path}: its target ${e.header.linkname} was not restored`);
      return;
    }
    if (!st.isFile()) return this.refuse(e, 'hardlink target is not a regular file');
    // Already a link to that file (an earlier restore): rename(2) of two links to one inode does
    // nothing and would leave the temporary behind.
    const existing = await lstat(abs).catch(() => undefined);
    if (existing && existing.ino === st.ino && existing.dev === st.dev) return;
    await this.replaceWith(e, abs, parent, (tmp) => link(source, tmp));
  }

  /** Creates the entry under a temporary name with `make`, sets metadata, renames it into place. */
  private async replaceWith(e: ArchiveEntry, abs: string, parent: string, make: (tmp: string) => Promise<void>, isSymlink = false): Promise<void> {
    await drain(e.body);
    const tmp = tempName(parent);
    const h = e.header;
    try {
      await make(tmp);
      if (isSymlink) {
        const m = this.meta(e);
        if (this.asRoot) await lchown(tmp, m.uid, m.gid);
        if (m.mtime) await lutimes(tmp, m.mtime, m.mtime);
      } else if (h.type !== 'link') {
        const m = this.meta(e);
        if (this.asRoot) await chown(tmp, m.uid, m.gid);
        await chmod(tmp, (h.mode ?? 0o644) & 0o7777);
        if (m.mtime) await utimes(tmp, m.mtime, m.mtime);
      }
      if ((await lstat(abs).catch(() => undefined))?.isDirectory()) {
        await unlink(tmp);
        return this.refuse(e, 'a directory of that name is already there');
      }
      await rename(tmp, abs);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw ioError('create', abs, err, { path: e.path });
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

function tempName(dir: string): string {
  return join(dir, `.coffer-restore-${randomBytes(6).toString('hex')}`);
}

/**
 * Owner ids too large for the ustar field travel in PAX records (tar-stream
 * leaves those in h.pax). undefined when the archive's value is not an id
 * chown accepts (2^32 - 1 is "no change", so not an id either).
 */
function idOf(h: EntryHeader, key: 'uid' | 'gid'): number | undefined {
  const pax = h.pax?.[key];
  const id = pax !== undefined && /^\d+$/.test(pax) ? Number(pax) : (h[key] ?? 0);
  return Number.isSafeInteger(id) && id >= 0 && id < 2 ** 32 - 1 ? id : undefined;
}

/** undefined when the archive's time is not a valid Date (NaN, or beyond +-8.64e15 ms). */
function mtimeOf(h: EntryHeader): Date | undefined {
  const pax = h.pax?.mtime;
  const t = pax !== undefined && /^-?\d+(\.\d+)?$/.test(pax) ? new Date(Math.round(parseFloat(pax) * 1000)) : (h.mtime ?? new Date(0));
  return Number.isFinite(t.getTime()) ? t : undefined;
}

async function drain(body: Readable): Promise<void> {
  for await (const _ of body) void _;
}
