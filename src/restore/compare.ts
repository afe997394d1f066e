/**
 * Compares a restored tree with a live one (drill --against): the live
 * directory's archive path is looked up under the restore folder, and each
 * entry is compared by type, size, mode, link target and content hash.
 * Lists are capped; the counts stay exact.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { archivePathOf } from '../backup/walk.js';

export interface Comparison {
  same: number;
  changed: string[];
  /** In the live tree but not in the backup. */
  missing: string[];
  /** In the backup but no longer in the live tree. */
  extra: string[];
}

const KEEP = 1000;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(path)) h.update(b as Buffer);
  return h.digest('hex');
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function same(a: string, sa: Stats, b: string, sb: Stats): Promise<boolean> {
  if ((sa.mode & 0o170000) !== (sb.mode & 0o170000) || (sa.mode & 0o7777) !== (sb.mode & 0o7777)) return false;
  if (sa.isSymbolicLink()) return (await readlink(a)) === (await readlink(b));
  if (sa.isFile()) return sa.size === sb.size && (await sha256(a)) === (await sha256(b));
  return true;
}

export async function compareTrees(restoreRoot: string, live: string): Promise<Comparison> {
  const result: Comparison = { same: 0, changed: [], missing: [], extra: [] };
  const note = (list: string[], p: string) => {
    if (list.length < KEEP) list.push(p);
  };
  const visit = async (restored: string, original: string): Promise<void> => {
    const sr = await lstat(restored).catch(() => undefined);
    const so = await lstat(original).catch(() => undefined);
    if (!sr && !so) return;
    if (!sr) return note(result.missing, original);
    if (!so) return note(result.extra, original);
    if (await same(restored, sr, original, so)) result.same++;
    else note(result.changed, original);
    if (sr.isDirectory() && so.isDirectory()) {
      const all = new Set([...(await names(restored)), ...(await names(original))]);
      for (const n of [...all].sort()) await visit(join(restored, n), join(original, n));
    }
  };
  await visit(join(restoreRoot, archivePathOf(live)), live);
  return result;
}
