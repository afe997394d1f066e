// crypto/identity-file: identity and public key files, their parsers, the
// loaders' refusals (typed errors with stable codes) and key file creation.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  decodePublicKey,
  encodeIdentity,
  encodePublicKey,
  fingerprint,
  loadIdentity,
  loadPublicKey,
  parseIdentity,
  writeNewKeyFile,
} from '../../src/crypto/identity-file.js';
import { identityFromSeed } from '../../src/crypto/keys.js';
import type { Identity } from '../../src/crypto/keys.js';
import { CofferError, KeyError, TargetError, UsageError } from '../../src/errors.js';
import { withTempDir } from './helpers.js';

const FAST = { logN: 10, r: 8, p: 1 };
const PASS = Buffer.from('a passphrase');
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function sameIdentity(a: Identity, b: Identity): void {
  expect(a.seed.equals(b.seed)).toBe(true);
  expect(a.public.x25519.equals(b.public.x25519)).toBe(true);
  expect(a.public.ed25519.equals(b.public.ed25519)).toBe(true);
}

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => CofferError, code: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, `expected ${cls.name} ${code}`).toBeInstanceOf(cls);
  expect((err as CofferError).code).toBe(code);
}

const noPassphrase = async () => undefined;
const passphrase = (p: Buffer) => async () => p;

describe('identity text', () => {
  const id = identityFromSeed(randomBytes(32));

  test('plain: encode and parse round trip', async () => {
    const text = await encodeIdentity(id);
    expect(text).toMatch(/^# coffer identity/);
    expect(text).toContain(encodePublicKey(id.public));
    const parsed = parseIdentity(text);
    expect(parsed?.kind).toBe('plain');
    if (parsed?.kind === 'plain') sameIdentity(parsed.identity, id);
  });

  test('protected: unlocks with the right passphrase only', async () => {
    const text = await encodeIdentity(id, PASS, FAST);
    expect(text).not.toContain(id.seed.toString('base64url'));
    const parsed = parseIdentity(text);
    expect(parsed?.kind).toBe('protected');
    if (parsed?.kind !== 'protected') return;
    sameIdentity((await parsed.unlock(PASS))!, id);
    expect(await parsed.unlock(Buffer.from('a passphrasf'))).toBeUndefined();
    expect(await parsed.unlock(Buffer.alloc(0))).toBeUndefined();
  });

  test('protected: scrypt costs outside the accepted range are refused when parsed', async () => {
    const weak = await encodeIdentity(id, PASS, { logN: 9, r: 8, p: 1 });
    expect(parseIdentity(weak)).toBeUndefined();
    // Raise logN to 40 in a good file: must be refused before any work is done.
    const good = await encodeIdentity(id, PASS, FAST);
    const line = good.split('\n').find((l) => l.startsWith('COFFER-IDENTITY-1-SCRYPT '))!;
    const body = Buffer.from(line.split(' ')[1]!, 'base64url');
    body[0] = 40;
    expect(parseIdentity(good.replace(line, `COFFER-IDENTITY-1-SCRYPT ${body.toString('base64url')}`))).toBeUndefined();
  });

  test('protected: a flipped bit in the sealed seed fails to unlock', async () => {
    const good = await encodeIdentity(id, PASS, FAST);
    const line = good.split('\n').find((l) => l.startsWith('COFFER-IDENTITY-1-SCRYPT '))!;
    const body = Buffer.from(line.split(' ')[1]!, 'base64url');
    body[40]! ^= 0x10;
    const parsed = parseIdentity(good.replace(line, `COFFER-IDENTITY-1-SCRYPT ${body.toString('base64url')}`));
    expect(parsed?.kind).toBe('protected');
    if (parsed?.kind === 'protected') expect(await parsed.unlock(PASS)).toBeUndefined();
  });

  test.each([
    ['empty', ''],
    ['comments only', '# just a comment\n'],
    ['garbage', 'hello world\n'],
    ['two identities', `COFFER-IDENTITY-1 ${randomBytes(32).toString('base64url')}\nCOFFER-IDENTITY-1 ${randomBytes(32).toString('base64url')}\n`],
    ['short seed', `COFFER-IDENTITY-1 ${randomBytes(31).toString('base64url')}\n`],
    ['long seed', `COFFER-IDENTITY-1 ${randomBytes(33).toString('base64url')}\n`],
    ['bad base64', `COFFER-IDENTITY-1 ${'*'.repeat(43)}\n`],
    ['extra field', `COFFER-IDENTITY-1 ${randomBytes(32).toString('base64url')} extra\n`],
    ['wrong version', `COFFER-IDENTITY-2 ${randomBytes(32).toString('base64url')}\n`],
    ['no value', 'COFFER-IDENTITY-1\n'],
    ['protected, short', `COFFER-IDENTITY-1-SCRYPT ${randomBytes(66).toString('base64url')}\n`],
    ['a public key', `${encodePublicKey(identityFromSeed(randomBytes(32)).public)}\n`],
  ])('parseIdentity refuses %s', (_name, text) => {
    expect(parseIdentity(text)).toBeUndefined();
  });
});

describe('public key text', () => {
  const id = identityFromSeed(randomBytes(32));
  const text = encodePublicKey(id.public);

  test('round trip, with comments and blank lines around it', () => {
    expect(text).toMatch(/^coffer-pub-1:[A-Za-z0-9_-]+$/);
    for (const t of [text, `${text}\n`, `# my key\n\n${text}\n\n`]) {
      const k = decodePublicKey(t)!;
      expect(k.x25519.equals(id.public.x25519)).toBe(true);
      expect(k.ed25519.equals(id.public.ed25519)).toBe(true);
    }
  });

  test('the checksum catches any changed character', () => {
    const prefix = 'coffer-pub-1:'.length;
    for (let i = prefix; i < text.length; i++) {
      for (const c of B64URL) {
        if (c === text[i]) continue;
        const changed = text.slice(0, i) + c + text.slice(i + 1);
        expect(decodePublicKey(changed), `position ${i} -> ${c}`).toBeUndefined();
      }
    }
  });

  test('refuses a missing, extra or truncated part', () => {
    expect(decodePublicKey('')).toBeUndefined();
    expect(decodePublicKey(text.slice(0, -1))).toBeUndefined();
    expect(decodePublicKey(`${text}A`)).toBeUndefined();
    expect(decodePublicKey(text.replace('coffer-pub-1:', 'coffer-pub-2:'))).toBeUndefined();
    expect(decodePublicKey(`${text}\n${text}\n`)).toBeUndefined();
  });

  test('fingerprint is short, stable hex', () => {
    expect(fingerprint(id.public.ed25519)).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(id.public.ed25519)).toBe(fingerprint(Buffer.from(id.public.ed25519)));
    expect(fingerprint(identityFromSeed(randomBytes(32)).public.ed25519)).not.toBe(fingerprint(id.public.ed25519));
  });
});

describe('loading key files', () => {
  const id = identityFromSeed(randomBytes(32));

  test('a plain identity file', () =>
    withTempDir('id', async (dir) => {
      const path = join(dir, 'key');
      await writeNewKeyFile(path, await encodeIdentity(id), 0o600);
      sameIdentity(await loadIdentity(path, noPassphrase), id);
    }));

  test('a protected identity: right, wrong and missing passphrase', () =>
    withTempDir('id', async (dir) => {
      const path = join(dir, 'key');
      await writeNewKeyFile(path, await encodeIdentity(id, PASS, FAST), 0o600);
      sameIdentity(await loadIdentity(path, passphrase(PASS)), id);
      await rejects(loadIdentity(path, passphrase(Buffer.from('nope'))), KeyError, 'wrong-passphrase');
      await rejects(loadIdentity(path, noPassphrase), KeyError, 'identity-locked');
    }));

  test('an identity readable by others is refused', () =>
    withTempDir('id', async (dir) => {
      const path = join(dir, 'key');
      await writeNewKeyFile(path, await encodeIdentity(id), 0o600);
      for (const mode of [0o640, 0o604, 0o644, 0o610]) {
        await chmod(path, mode);
        await rejects(loadIdentity(path, noPassphrase), KeyError, 'identity-permissions');
      }
    }));

  test('garbage and the wrong kind of file are refused with their codes', () =>
    withTempDir('id', async (dir) => {
      const garbage = join(dir, 'garbage');
      await writeFile(garbage, randomBytes(300), { mode: 0o600 });
      const pub = join(dir, 'key.pub');
      await writeFile(pub, `${encodePublicKey(id.public)}\n`, { mode: 0o600 });
      const protectedId = join(dir, 'protected');
      await writeFile(protectedId, await encodeIdentity(id, PASS, FAST), { mode: 0o600 });
      const plainId = join(dir, 'plain');
      await writeFile(plainId, await encodeIdentity(id), { mode: 0o600 });

      await rejects(loadIdentity(garbage, noPassphrase), KeyError, 'bad-identity');
      await rejects(loadIdentity(pub, noPassphrase), KeyError, 'bad-identity');
      await rejects(loadPublicKey(garbage), UsageError, 'bad-public-key');
      await rejects(loadPublicKey(protectedId), UsageError, 'bad-public-key');
      // A plain identity also names its public key.
      const fromPlain = await loadPublicKey(plainId);
      expect(fromPlain.x25519.equals(id.public.x25519)).toBe(true);
      const fromPub = await loadPublicKey(pub);
      expect(fromPub.ed25519.equals(id.public.ed25519)).toBe(true);
    }));

  test('missing, a directory, too large', () =>
    withTempDir('id', async (dir) => {
      await rejects(loadIdentity(join(dir, 'nope'), noPassphrase), UsageError, 'unreadable-key-file');
      await rejects(loadPublicKey(join(dir, 'nope')), UsageError, 'unreadable-key-file');
      await mkdir(join(dir, 'd'), { mode: 0o700 });
      await rejects(loadIdentity(join(dir, 'd'), noPassphrase), UsageError, 'bad-key-file');
      await rejects(loadPublicKey(join(dir, 'd')), UsageError, 'bad-key-file');
      const big = join(dir, 'big');
      await writeFile(big, Buffer.alloc(64 * 1024 + 1, 0x23), { mode: 0o600 });
      await rejects(loadIdentity(big, noPassphrase), UsageError, 'bad-key-file');
    }));
});

describe('writeNewKeyFile', () => {
  test('writes mode 0600 and the exact text', () =>
    withTempDir('kf', async (dir) => {
      const path = join(dir, 'key');
      const oldMask = process.umask(0);
      try {
        await writeNewKeyFile(path, 'secret\n', 0o600);
      } finally {
        process.umask(oldMask);
      }
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readFile(path, 'utf8')).toBe('secret\n');
      const pub = join(dir, 'key.pub');
      await writeNewKeyFile(pub, 'public\n', 0o644);
      expect((await stat(pub)).mode & 0o777).toBe(0o644);
    }));

  test('never overwrites a file, nor writes through a symlink', () =>
    withTempDir('kf', async (dir) => {
      const path = join(dir, 'key');
      await writeFile(path, 'old key\n');
      await rejects(writeNewKeyFile(path, 'new key\n', 0o600), UsageError, 'key-file-exists');
      expect(await readFile(path, 'utf8')).toBe('old key\n');

      const victim = join(dir, 'victim');
      await writeFile(victim, 'victim\n');
      const link = join(dir, 'link');
      await symlink(victim, link);
      await rejects(writeNewKeyFile(link, 'new key\n', 0o600), UsageError, 'key-file-exists');
      expect(await readFile(victim, 'utf8')).toBe('victim\n');
      // A dangling symlink must not be followed to create its target either.
      const dangling = join(dir, 'dangling');
      await symlink(join(dir, 'created-through-link'), dangling);
      await rejects(writeNewKeyFile(dangling, 'new key\n', 0o600), UsageError, 'key-file-exists');
      await expect(stat(join(dir, 'created-through-link'))).rejects.toThrow();
    }));

  test('a missing directory is a target error', () =>
    withTempDir('kf', async (dir) => {
      await rejects(writeNewKeyFile(join(dir, 'no', 'key'), 'x', 0o600), TargetError, 'io-failed');
    }));
});
