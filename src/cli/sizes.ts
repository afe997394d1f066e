import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses "123", "64K", "64M", "1G", "2T" (powers of 1024; "KiB"/"MB" spellings accepted). */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new UsageError('bad-size', `${flag} ${JSON.stringify(text)} is not a size`, { hint: 'use bytes or a suffix K, M, G or T, e.g. 64M' });
  const bytes = Math.floor(parseFloat(m[1]!) * UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError('bad-size', `${flag} ${text} is out of range`);
  return bytes;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** --workers: worker threads for per-chunk work. */
export function parseWorkers(text: string): number {
  if (!/^\d{1,3}$/.test(text)) throw new UsageError('bad-workers', `--workers ${text} is not a number of threads`, { hint: 'use 0 (no worker threads) up to the number of cores' });
  return Number(text);
}


/** "1 file", "2 files": counts in the one-line summaries. */
export function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
