/**
 * What restore reads from an entry's tar header (kind, size, mode, owner,
 * time, link target, device numbers), and whether that agrees with the
 * entry's catalog record. The catalog is bound to the manifest (its SHA-256
 * is in the signed header), the tar headers only to the data key: a restore
 * with a manifest refuses a header that disagrees with its record before
 * the entry is written, so whoever holds the data key cannot change a mode,
 * an owner or a link target without it being caught.
 */
import type { CatalogEntry, EntryType } from '../format/catalog.js';
import type { EntryHeader, EntryKind } from '../format/tar-header-decode.js';

const CATALOG_TYPE: Partial<Record<EntryKind, EntryType>> = {
  file: 'file',
  // GNU tar's type 7 (a regular file); restore writes it as one.
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  fifo: 'fifo',
  'character-device': 'char-device',
  'block-device': 'block-device',
};

/**
 * Owner ids too large for the ustar field travel in PAX records (tar-stream
 * leaves those in h.pax). undefined when the archive's value is not an id
 * chown accepts (2^32 - 1 is "no change", so not an id either).
 */
export function idOf(h: EntryHeader, key: 'uid' | 'gid'): number | undefined {
  const pax = h.pax?.[key];
  const id = pax !== undefined && /^\d+$/.test(pax) ? Number(pax) : (h[key] ?? 0);
  return Number.isSafeInteger(id) && id >= 0 && id < 2 ** 32 - 1 ? id : undefined;
}

/** undefined when the archive's time is not a valid Date (NaN, or beyond +-8.64e15 ms). */
export function mtimeOf(h: EntryHeader): Date | undefined {
  const pax = h.pax?.mtime;
  const t = pax !== undefined && /^-?\d+(\.\d+)?$/.test(pax) ? new Date(Math.round(parseFloat(pax) * 1000)) : (h.mtime ?? new Date(0));
  return Number.isFinite(t.getTime()) ? t : undefined;
}

/** The first thing the header says differently from the catalog record, as "what: header value, catalog value"; undefined when they agree. */
export function catalogDisagreement(h: EntryHeader, rec: CatalogEntry): string | undefined {
  const type = h.type === null ? undefined : CATALOG_TYPE[h.type];
  if (type !== rec.type) return `type: ${String(h.type)} in the archive, ${rec.type} in the catalog`;
  if (h.size !== rec.size) return `size: ${String(h.size)} in the archive, ${rec.size} in the catalog`;
  const mode = h.mode === null ? null : h.mode & 0o7777;
  if (mode !== rec.mode) return `mode: ${octal(mode)} in the archive, ${octal(rec.mode)} in the catalog`;
  for (const key of ['uid', 'gid'] as const) {
    const id = idOf(h, key);
    if (id !== rec[key]) return `${key}: ${String(id)} in the archive, ${rec[key]} in the catalog`;
  }
  const mtimeMs = mtimeOf(h)?.getTime();
  if (mtimeMs !== Math.round(rec.mtime * 1000)) return `mtime: ${mtimeMs === undefined ? 'invalid' : mtimeMs / 1000} in the archive, ${rec.mtime} in the catalog`;
  if ((type === 'symlink' || type === 'hardlink') && (h.linkname ?? '') !== (rec.link ?? '')) return `link target: ${JSON.stringify(h.linkname)} in the archive, ${JSON.stringify(rec.link)} in the catalog`;
  if ((type === 'char-device' || type === 'block-device') && (h.devmajor !== (rec.devmajor ?? null) || h.devminor !== (rec.devminor ?? null))) {
    return `device: ${String(h.devmajor)},${String(h.devminor)} in the archive, ${String(rec.devmajor)},${String(rec.devminor)} in the catalog`;
  }
  return undefined;
}

const octal = (mode: number | null) => (mode === null ? 'none' : `0${mode.toString(8)}`);
