/**
 * A restore into a folder that is missing or empty is written into a
 * staging folder inside it, `.coffer-restore-<run>` (mode 0700), and its
 * top-level entries are moved into place at the end, one rename each.
 * Inside, files are created under their own names (file-jobs.ts), which
 * spares the temporary name and rename per file that a restore into a
 * folder already in use needs (fs-writer.ts): on 100,000 small files those
 * renames were a quarter of the writer threads' time (docs/PERFORMANCE.md).
 * The promise is the same: nothing is under its final name before it is
 * complete and checked, and an interrupted restore leaves only the staging
 * folder, whose name says what it is.
 */
import { lstatSync, mkdirSync, opendirSync, renameSync, rmdirSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { TargetError, ioError } from '../errors.js';

/** Unique within this process run; O_EXCL (and the random run id) keeps clear of anything already there. */
const runId = randomBytes(6).toString('hex');
let tempCounter = 0;

const RESTORE_PREFIX = '.coffer-restore-';

/** A temporary name in `dir` for an entry to be renamed into place. */
export function tempName(dir: string): string {
  return `${dir}/${RESTORE_PREFIX}${runId}-${(tempCounter++).toString(36)}`;
}

export class Staging {
  private published = false;

  private constructor(
    /** Where the restore writes. */
    readonly dir: string,
    /** Where its entries end up. */
    readonly root: string,
    /**
     * Who owns what this process creates in the staging folder, when that is
     * known for sure: a file with that owner needs no chown (fs-writer.ts).
     */
    readonly newFileOwner: { uid: number; gid: number } | undefined,
  ) {}

  /** A staging folder in `root` if `root` holds nothing; undefined otherwise. */
  static open(root: string): Staging | undefined {
    const d = opendirSync(root);
    let empty: boolean;
    try {
      empty = d.readSync() === null;
    } finally {
      d.closeSync();
    }
    if (!empty) return undefined;
    const dir = `${root}/${RESTORE_PREFIX}${runId}`;
    mkdirSync(dir, { mode: 0o700 });
    return new Staging(dir, root, ownerOfNewFiles(lstatSync(dir)));
  }

  /**
   * Moves every staged entry into the restore folder, then removes the
   * staging folder. Something that appeared in the restore folder meanwhile
   * under a staged name is left alone, and so is the staging folder: the
   * restore fails and says where its copy is.
   */
  publish(): void {
    if (this.published) return;
    for (let names = this.someNames(); names.length; names = this.someNames()) {
      for (const name of names) {
        const to = `${this.root}/${name}`;
        if (exists(to)) {
          throw new TargetError('restore-target-changed', `${to} appeared while the restore ran; the restored copy is in ${this.dir}/${name}`, {
            hint: 'move it aside, then move the restored copy into place or restore again',
          });
        }
        try {
          renameSync(`${this.dir}/${name}`, to);
        } catch (err) {
          throw ioError('move into place', to, err);
        }
      }
    }
    try {
      rmdirSync(this.dir);
    } catch (err) {
      throw ioError('remove the staging folder', this.dir, err);
    }
    this.published = true;
  }

  /** A batch of names still staged: a fresh listing each time, as entries are moved out while listing. */
  private someNames(): string[] {
    const d = opendirSync(this.dir);
    const names: string[] = [];
    try {
      for (let e = d.readSync(); e && names.length < 1024; e = d.readSync()) names.push(e.name);
    } finally {
      d.closeSync();
    }
    return names;
  }
}

/**
 * A new file gets the process's user; its group is the process's, or its
 * folder's when that folder has the set-group-id bit or the file system is
 * mounted with BSD group semantics. Folders made below `staging` get theirs
 * the same way: when its group is the process's own and the bit is off,
 * everything made below it gets the process's user and group.
 */
function ownerOfNewFiles(staging: Stats): { uid: number; gid: number } | undefined {
  if (staging.mode & 0o2000 || staging.uid !== process.geteuid?.() || staging.gid !== process.getegid?.()) return undefined;
  return { uid: staging.uid, gid: staging.gid };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError('inspect', path, err);
  }
}
