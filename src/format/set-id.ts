/**
 * Set ids: 16 bytes, the creation time in milliseconds (u64 BE) then 8 random
 * bytes. The text form sorts by creation time, so a target's folders list in
 * the order the sets were made: `20261123T091500.123Z-9f3a2c1b7e4d5a60`.
 */
import { randomBytes } from 'node:crypto';
import { readU64, u64 } from './bytes.js';

export const SET_ID_BYTES = 16;
const TEXT = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z-([0-9a-f]{16})$/;

export function newSetId(now: Date = new Date()): Buffer {
  return Buffer.concat([u64(now.getTime()), randomBytes(8)]);
}

/** Last millisecond the text form can hold (9999-12-31T23:59:59.999Z). */
const MAX_TEXT_MS = 253402300799999;

/**
 * The text form. An id read from an untrusted volume may hold a time the text
 * form cannot (after year 9999): it is then shown as 32 hex digits, which
 * parseSetIdText rejects, rather than throwing.
 */
export function setIdText(id: Uint8Array): string {
  const ms = readU64(id, 0);
  if (ms === undefined || ms > MAX_TEXT_MS) return Buffer.from(id).toString('hex');
  const iso = new Date(ms).toISOString(); // 2026-11-23T09:15:00.123Z
  const compact = iso.replace(/[-:]/g, '');
  return `${compact}-${Buffer.from(id.subarray(8, 16)).toString('hex')}`;
}

export function parseSetIdText(text: string): Buffer | undefined {
  const m = TEXT.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
  // Date.UTC maps years 0000-0099 to 1900-1999; any time before 1970 has no u64 form.
  if (Number.isNaN(ms) || ms < 0) return undefined;
  const id = Buffer.concat([u64(ms), Buffer.from(m[8]!, 'hex')]);
  return setIdText(id) === text ? id : undefined;
}

export function setIdTime(id: Uint8Array): Date {
  return new Date(readU64(id, 0) ?? 0);
}
