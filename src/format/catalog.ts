/**
 * Catalog entries: one per archived entry, in archive order, as JSON lines
 * inside the encrypted catalog. `offset` is where the entry's first tar
 * header starts in the set's tar stream; `end` is where its data ends (before
 * padding). With the set's chunk size and the manifest's volume list these
 * give the volume, chunk and offset where each entry lives.
 */
import { IntegrityError } from '../errors.js';

export const ENTRY_TYPES = ['file', 'directory', 'symlink', 'hardlink', 'fifo', 'char-device', 'block-device'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export interface CatalogEntry {
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Content SHA-256 (hex) of regular files. */
  sha256?: string;
  /** Target of a symlink or hardlink. */
  link?: string;
  devmajor?: number;
  devminor?: number;
  offset: number;
  end: number;
}

export function encodeCatalogEntry(e: CatalogEntry): string {
  return JSON.stringify(e) + '\n';
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isOptString = (v: unknown) => v === undefined || typeof v === 'string';

export function decodeCatalogEntry(line: string, lineNumber: number): CatalogEntry {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw malformed(lineNumber, 'not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(lineNumber, 'not an object');
  if (typeof v.path !== 'string' || v.path.length === 0) throw malformed(lineNumber, 'path');
  if (!ENTRY_TYPES.includes(v.type as EntryType)) throw malformed(lineNumber, 'type');
  for (const k of ['size', 'mode', 'uid', 'gid', 'offset', 'end'] as const) if (!isUint(v[k])) throw malformed(lineNumber, k);
  if (typeof v.mtime !== 'number' || !Number.isFinite(v.mtime)) throw malformed(lineNumber, 'mtime');
  if (!isOptString(v.uname) || !isOptString(v.gname) || !isOptString(v.link)) throw malformed(lineNumber, 'names');
  for (const k of ['devmajor', 'devminor'] as const) if (v[k] !== undefined && !isUint(v[k])) throw malformed(lineNumber, k);
  if (v.sha256 !== undefined && (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256))) throw malformed(lineNumber, 'sha256');
  if ((v.end as number) < (v.offset as number)) throw malformed(lineNumber, 'end before offset');
  return v as unknown as CatalogEntry;
}

function malformed(lineNumber: number, field: string): IntegrityError {
  return new IntegrityError('bad-catalog', `catalog entry ${lineNumber} is malformed (${field})`, {
    hint: 'the manifest was made by an incompatible tool or is corrupt',
  });
}
