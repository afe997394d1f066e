/**
 * Keys from the command line: passphrases from --passphrase-file or
 * COFFER_PASSPHRASE (never from an argument), identities and public keys
 * from files. Nothing here logs a secret.
 */
import { readFile } from 'node:fs/promises';
import { UsageError, ioError } from '../errors.js';
import { loadIdentity, loadPublicKey } from '../crypto/identity-file.js';
import type { Identity, KeySource, PublicKeys } from '../crypto/keys.js';

export interface KeyFlags {
  identity?: string[];
  passphraseFile?: string;
}

/**
 * The passphrase as bytes: a file's exact bytes less one trailing newline
 * (so any encoding works), or else COFFER_PASSPHRASE.
 */
export async function readPassphrase(file: string | undefined): Promise<Buffer | undefined> {
  let bytes: Buffer | undefined;
  if (file !== undefined) {
    try {
      bytes = await readFile(file);
    } catch (err) {
      const e = ioError('read passphrase file', file, err);
      throw new UsageError('unreadable-passphrase-file', e.message);
    }
    const cut = bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? 2 : 1) : 0;
    bytes = bytes.subarray(0, bytes.length - cut);
  } else if (process.env.COFFER_PASSPHRASE !== undefined) {
    bytes = Buffer.from(process.env.COFFER_PASSPHRASE, 'utf8');
  }
  if (bytes === undefined) return undefined;
  if (bytes.length === 0) throw new UsageError('empty-passphrase', 'the passphrase is empty', { hint: file ? `put the passphrase in ${file}` : 'set COFFER_PASSPHRASE to a non-empty value' });
  return bytes;
}

/** Identities and/or passphrase to read a set; at least one is required. */
export async function readKeySource(flags: KeyFlags): Promise<KeySource> {
  const passphrase = await readPassphrase(flags.passphraseFile);
  const identities: Identity[] = [];
  for (const path of flags.identity ?? []) identities.push(await loadIdentity(path, async () => passphrase));
  if (!identities.length && !passphrase) {
    throw new UsageError('no-key', 'no key given', { hint: 'give --identity FILE or --passphrase-file FILE (or set COFFER_PASSPHRASE)' });
  }
  return { identities, ...(passphrase ? { passphrase } : {}) };
}

/** Like readKeySource, but a missing key is fine (keyless verify). */
export async function readOptionalKeySource(flags: KeyFlags): Promise<KeySource | undefined> {
  if (!flags.identity?.length && flags.passphraseFile === undefined && process.env.COFFER_PASSPHRASE === undefined) return undefined;
  return readKeySource(flags);
}

export async function readRecipients(paths: string[]): Promise<PublicKeys[]> {
  const out: PublicKeys[] = [];
  for (const p of paths) out.push(await loadPublicKey(p));
  return out;
}
