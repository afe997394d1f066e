/**
 * Identity files (secret, 0600, never overwritten) and public key files.
 *
 *   identity:  COFFER-IDENTITY-1 <base64url seed>
 *              COFFER-IDENTITY-1-SCRYPT <base64url logN r p salt sealed-seed>   (passphrase-protected)
 *   public:    coffer-pub-1:<base64url x25519 || ed25519 || 4-byte checksum>
 *
 * Lines starting with '#' are comments. Parsers accept nothing else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { KeyError, UsageError, ioError } from '../errors.js';
import { fromB64url, toB64url } from '../format/bytes.js';
import { nodeAead, NONCE_BYTES } from './aead.js';
import { DEFAULT_SCRYPT, scrypt, scryptParamsAcceptable } from './kdf.js';
import type { ScryptParams } from './kdf.js';
import { identityFromSeed } from './keys.js';
import type { Identity, PublicKeys } from './keys.js';

const PLAIN = 'COFFER-IDENTITY-1';
const PROTECTED = 'COFFER-IDENTITY-1-SCRYPT';
const PUBLIC = 'coffer-pub-1:';
const MAX_KEY_FILE_BYTES = 64 * 1024;
const IDENTITY_AAD = Buffer.from('coffer v1 identity file', 'latin1');

export function encodePublicKey(p: PublicKeys): string {
  const body = Buffer.concat([p.x25519, p.ed25519]);
  const check = createHash('sha256').update(body).digest().subarray(0, 4);
  return PUBLIC + toB64url(Buffer.concat([body, check]));
}

export function decodePublicKey(text: string): PublicKeys | undefined {
  const line = contentLines(text);
  if (line.length !== 1 || !line[0]!.startsWith(PUBLIC)) return undefined;
  const raw = fromB64url(line[0]!.slice(PUBLIC.length));
  if (!raw || raw.length !== 68) return undefined;
  const check = createHash('sha256').update(raw.subarray(0, 64)).digest().subarray(0, 4);
  if (!check.equals(raw.subarray(64))) return undefined;
  return { x25519: Buffer.from(raw.subarray(0, 32)), ed25519: Buffer.from(raw.subarray(32, 64)) };
}

/** Short, stable name for a public key, for messages and --json. */
export function fingerprint(ed25519: Uint8Array): string {
  return createHash('sha256').update(ed25519).digest('hex').slice(0, 16);
}

function contentLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export async function encodeIdentity(id: Identity, passphrase?: Uint8Array, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const header = [
    '# coffer identity: keep this file secret. It decrypts every set made for its public key',
    '# and signs manifests in its name.',
    `# created: ${new Date().toISOString()}`,
    `# public key: ${encodePublicKey(id.public)}`,
  ].join('\n');
  if (!passphrase) return `${header}\n${PLAIN} ${toB64url(id.seed)}\n`;
  const salt = randomBytes(16);
  const key = await scrypt(passphrase, salt, params);
  const sealed = nodeAead.seal(key, Buffer.alloc(NONCE_BYTES), id.seed, IDENTITY_AAD);
  const body = Buffer.concat([Buffer.of(params.logN, params.r, params.p), salt, sealed]);
  return `${header}\n${PROTECTED} ${toB64url(body)}\n`;
}

export type ParsedIdentity = { kind: 'plain'; identity: Identity } | { kind: 'protected'; unlock(passphrase: Uint8Array): Promise<Identity | undefined> };

export function parseIdentity(text: string): ParsedIdentity | undefined {
  const lines = contentLines(text);
  if (lines.length !== 1) return undefined;
  const [kind, value, ...rest] = lines[0]!.split(' ');
  if (rest.length || value === undefined) return undefined;
  const raw = fromB64url(value);
  if (!raw) return undefined;
  if (kind === PLAIN) return raw.length === 32 ? { kind: 'plain', identity: identityFromSeed(raw) } : undefined;
  if (kind !== PROTECTED || raw.length !== 3 + 16 + 48) return undefined;
  const params = { logN: raw[0]!, r: raw[1]!, p: raw[2]! };
  if (!scryptParamsAcceptable(params)) return undefined;
  const salt = raw.subarray(3, 19);
  const sealed = raw.subarray(19);
  return {
    kind: 'protected',
    async unlock(passphrase) {
      const key = await scrypt(passphrase, salt, params);
      const seed = nodeAead.open(key, Buffer.alloc(NONCE_BYTES), sealed, IDENTITY_AAD);
      return seed ? identityFromSeed(seed) : undefined;
    },
  };
}

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new UsageError('bad-key-file', `${what} ${path} is not a regular file`);
    if (s.size > MAX_KEY_FILE_BYTES) throw new UsageError('bad-key-file', `${what} ${path} is too large to be a coffer key`);
    return await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const e = ioError('read', `${what} ${path}`, err);
    throw new UsageError('unreadable-key-file', e.message, { hint: 'check the path and its permissions' });
  }
}

export interface IdentityFileWarning {
  path: string;
  mode: number;
}

/**
 * Loads an identity. A file that group or others can read is refused: a
 * leaked identity opens every tape made for it, so this is not worth a
 * warning that cron would swallow.
 */
export async function loadIdentity(path: string, passphrase: () => Promise<Uint8Array | undefined>): Promise<Identity> {
  const text = await readKeyFile(path, 'identity file');
  // Checked first: a .pub file is 0644 by design, and "readable by others, run chmod 600" would send the user the wrong way.
  if (decodePublicKey(text)) {
    throw new KeyError('bad-identity', `${path} is a public key file, not a coffer identity file`, { where: { path }, hint: 'give the identity file written by coffer keygen --out FILE (FILE, not FILE.pub)' });
  }
  const s = await stat(path);
  if ((s.mode & 0o077) !== 0) {
    throw new KeyError('identity-permissions', `identity file ${path} is readable by others (mode ${(s.mode & 0o777).toString(8).padStart(4, '0')})`, {
      where: { path },
      hint: `run: chmod 600 ${path}`,
    });
  }
  const parsed = parseIdentity(text);
  if (!parsed) throw new KeyError('bad-identity', `${path} is not a coffer identity file`, { where: { path }, hint: 'give the file written by coffer keygen --out (not the .pub file)' });
  if (parsed.kind === 'plain') return parsed.identity;
  const pass = await passphrase();
  if (!pass) throw new KeyError('identity-locked', `identity file ${path} is protected by a passphrase`, { where: { path }, hint: 'give --passphrase-file or set COFFER_PASSPHRASE' });
  const id = await parsed.unlock(pass);
  if (!id) throw new KeyError('wrong-passphrase', `wrong passphrase for identity file ${path}`, { where: { path } });
  return id;
}

export async function loadPublicKey(path: string): Promise<PublicKeys> {
  const text = await readKeyFile(path, 'public key file');
  const key = decodePublicKey(text);
  if (key) return key;
  const asIdentity = parseIdentity(text);
  if (asIdentity?.kind === 'plain') return asIdentity.identity.public;
  throw new UsageError('bad-public-key', `${path} is not a coffer public key`, { where: { path }, hint: 'give the .pub file written by coffer keygen' });
}

/** Writes a new file with O_EXCL and the given mode: never replaces an existing key. */
export async function writeNewKeyFile(path: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError('key-file-exists', `${path} already exists`, { where: { path }, hint: 'coffer never overwrites a key file; choose another --out or remove the old one yourself' });
    throw ioError('create', path, err);
  }
  try {
    await handle.writeFile(text);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
