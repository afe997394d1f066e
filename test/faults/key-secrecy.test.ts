/**
 * Keys stay secret, and bad key files fail clearly.
 *
 * Every command runs with `--log-level trace --log-file F` (keygen with a
 * passphrase, backup with a passphrase and with recipients and a protected
 * signing key, list, ls, verify, restore, impact, drill), and so do failing
 * runs (wrong passphrase, wrong identity, untrusted signer, usage errors).
 * After each, neither the passphrases, nor an identity's secret (the
 * base64url after `COFFER-IDENTITY-1 `, or the seed inside a protected
 * identity, in base64url or hex), nor any marker from file contents appears
 * in the log file, stdout or stderr. A passphrase cannot be given as an
 * argument (no such flag, exit 2) and is not echoed when someone tries.
 *
 * Corrupted identity files (a changed character, a truncated file, a .pub
 * given as the identity) are key failures: exit 4, one line, a key-failure
 * log event.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseIdentity } from '../../src/crypto/identity-file.js';
import { coffer, expectError, expectExit, expectJsonError, json, ok, readLog, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Run, RunOptions } from '../helpers/cli.js';
import { listTree } from '../helpers/tree.js';

useTempDirs();

const tag = randomBytes(6).toString('hex');
const PASS = `Pass phrase ${tag} with spaces`;
const WRONG = `Wrong phrase ${tag}`;
/** Markers that appear only inside files, never in their names. */
const MARK = `content-marker-${tag}`;
const MARK_COMPRESSIBLE = `compressible-marker-${tag}`;

let dir: string;
let src: string;
let passFile: string;
let wrongFile: string;
/** Strings that must never be printed or logged. */
const secrets: { what: string; value: string }[] = [
  { what: 'passphrase', value: PASS },
  { what: 'passphrase (base64)', value: Buffer.from(PASS).toString('base64') },
  { what: 'passphrase (hex)', value: Buffer.from(PASS).toString('hex') },
  { what: 'wrong passphrase', value: WRONG },
  { what: 'content marker', value: MARK },
  { what: 'compressible content marker', value: MARK_COMPRESSIBLE },
];
const prot = { identity: '', pub: '' };
const plain = { identity: '', pub: '' };
const other = { identity: '', pub: '' };
let tP: string; // a set protected by the passphrase
let tR: string; // a set for plain's public key, signed by prot

/** Adds an identity file's secrets: its secret line's value, and the seed (base64url and hex). */
async function addIdentitySecrets(file: string, passphrase?: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const line = /^(COFFER-IDENTITY-1(?:-SCRYPT)?) (\S+)$/m.exec(text);
  expect(line, `secret line of ${file}`).not.toBeNull();
  secrets.push({ what: `${file}: secret line`, value: line![2]! });
  const parsed = parseIdentity(text)!;
  const id = parsed.kind === 'plain' ? parsed.identity : (await parsed.unlock(Buffer.from(passphrase!)))!;
  secrets.push({ what: `${file}: seed (base64url)`, value: Buffer.from(id.seed).toString('base64url') });
  secrets.push({ what: `${file}: seed (hex)`, value: Buffer.from(id.seed).toString('hex') });
}

function expectNoSecret(r: Run, logText: string): void {
  for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr], ['log file', logText]] as const) {
    for (const s of secrets) {
      if (text.includes(s.value)) expect.fail(`${s.what} appears in the ${where} of: coffer ${r.args.join(' ')}`);
    }
  }
}

let logs = 0;

/** Runs coffer with trace logging to a new file; checks the exit code and that nothing secret came out. */
async function traced(args: string[], code: number, opts: RunOptions = {}): Promise<{ r: Run; log: Record<string, any>[]; file: string }> {
  const file = join(dir, 'logs', `${String(++logs).padStart(2, '0')}-${args[0]}.log`);
  const r = await coffer([...args, '--log-level', 'trace', '--log-file', file], opts);
  expectExit(r, code);
  const text = existsSync(file) ? await readFile(file, 'utf8') : '';
  expectNoSecret(r, text);
  return { r, log: await readLog(file), file };
}

function events(log: Record<string, any>[]): string[] {
  return log.map((l) => l.event).filter((e) => e !== undefined);
}

beforeAll(async () => {
  dir = await tempDir('faults-keys');
  await mkdir(join(dir, 'logs'));
  src = join(dir, 'src');
  await mkdir(join(src, 'docs'), { recursive: true });
  await writeFile(join(src, 'docs', 'letter.txt'), `Dear reader, ${MARK}.\n`);
  await writeFile(join(src, 'docs', 'repeated.txt'), `${MARK_COMPRESSIBLE}\n`.repeat(5000));
  await writeFile(join(src, 'top.bin'), randomBytes(70 * 1024));
  passFile = join(dir, 'pass');
  await writeFile(passFile, `${PASS}\n`);
  wrongFile = join(dir, 'wrong');
  await writeFile(wrongFile, `${WRONG}\n`);
  for (const [k, name] of [[prot, 'prot'], [plain, 'plain'], [other, 'other']] as const) {
    k.identity = join(dir, name);
    k.pub = `${k.identity}.pub`;
  }
  tP = join(dir, 'target-passphrase');
  tR = join(dir, 'target-recipient');
});

describe('no passphrase, identity secret or file content in logs, stdout or stderr', () => {
  it('keygen: with --passphrase-file (protected identity) and without', async () => {
    const a = await coffer(['keygen', '--out', prot.identity, '--passphrase-file', passFile, '--log-level', 'trace', '--log-file', join(dir, 'logs', 'keygen-prot.log')]);
    expectExit(a, 0);
    await addIdentitySecrets(prot.identity, PASS);
    expectNoSecret(a, await readFile(join(dir, 'logs', 'keygen-prot.log'), 'utf8'));
    expect(events(await readLog(join(dir, 'logs', 'keygen-prot.log')))).toEqual(['keygen']);
    for (const k of [plain, other]) {
      const file = join(dir, 'logs', `keygen-${k === plain ? 'plain' : 'other'}.log`);
      const b = await coffer(['keygen', '--out', k.identity, '--json', '--log-level', 'trace', '--log-file', file]);
      expectExit(b, 0);
      await addIdentitySecrets(k.identity);
      expectNoSecret(b, await readFile(file, 'utf8'));
    }
    // keygen refuses to overwrite: a failing run, still silent about the secret.
    await traced(['keygen', '--out', prot.identity, '--passphrase-file', passFile], 2);
  });

  it('backup with a passphrase, and with a recipient and a protected signing key (COFFER_PASSPHRASE)', async () => {
    const a = await traced(['backup', src, '--to', tP, '--passphrase-file', passFile, '--json'], 0);
    expect(events(a.log)).toEqual(['backup-started', 'backup-finished']);
    const b = await traced(['backup', src, '--to', tR, '--recipient', plain.pub, '--sign-key', prot.identity, '--chunk-size', '16K', '--volume-size', '64K'], 0, { env: { COFFER_PASSPHRASE: PASS } });
    expect(events(b.log)).toEqual(['backup-started', 'backup-finished']);
  });

  it('list, ls, verify, restore, impact and drill, with the passphrase and with the identity', async () => {
    await traced(['list', tP], 0);
    await traced(['list', tR, '--json'], 0);
    await traced(['ls', tP, '--passphrase-file', passFile], 0);
    await traced(['ls', tR, '--identity', plain.identity, '--json'], 0);
    expect(events((await traced(['verify', tP, '--passphrase-file', passFile], 0)).log)).toEqual(['verify-started', 'verify-finished']);
    await traced(['verify', tR, '--identity', plain.identity, '--trust', prot.pub, '--json'], 0);
    await traced(['verify', tR, '--trust', prot.pub], 0);
    expect(events((await traced(['restore', tP, '--to', join(dir, 'r1'), '--passphrase-file', passFile], 0)).log)).toEqual(['restore-started', 'restore-finished']);
    await traced(['restore', tR, '--to', join(dir, 'r2'), '--identity', plain.identity, '--json'], 0, { env: { COFFER_PASSPHRASE: PASS } });
    expect(await readFile(join(dir, 'r2', src.slice(1), 'docs', 'letter.txt'), 'utf8')).toContain(MARK); // the content did come back
    await traced(['impact', tP, '--lost', '1', '--passphrase-file', passFile], 0);
    await traced(['impact', tR, '--lost', '1,2', '--identity', plain.identity, '--json'], 0);
    expect(events((await traced(['drill', tP, '--passphrase-file', passFile, '--against', src], 0)).log)).toContain('drill-finished');
    await traced(['drill', tR, '--identity', plain.identity, '--json'], 0);
  });

  it('failing runs: wrong passphrase, wrong identity, wrong identity passphrase, untrusted signer', async () => {
    const to = join(dir, 'r-wrong');
    const a = await traced(['restore', tP, '--to', to, '--passphrase-file', wrongFile], 4);
    expect(a.log.find((l) => l.event === 'key-failure')).toMatchObject({ code: 'wrong-key' });
    expect(await listTree(to)).toEqual([]);
    await traced(['ls', tP], 4, { env: { COFFER_PASSPHRASE: WRONG } });
    await traced(['verify', tP, '--json'], 4, { env: { COFFER_PASSPHRASE: WRONG } });
    await traced(['drill', tR, '--identity', other.identity], 4);
    // prot opens with the passphrase but is not a recipient of tR.
    await traced(['ls', tR, '--identity', prot.identity, '--passphrase-file', passFile], 4);
    const b = await traced(['restore', tR, '--to', to, '--identity', prot.identity, '--passphrase-file', wrongFile, '--json'], 4);
    expect(json(b.r).error.code).toBe('wrong-passphrase');
    const c = await traced(['backup', src, '--to', join(dir, 'never'), '--recipient', plain.pub, '--sign-key', prot.identity, '--passphrase-file', wrongFile], 4);
    expect(events(c.log)).toEqual(['key-failure']);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    await traced(['verify', tR, '--trust', other.pub], 4);
    await traced(['impact', tR, '--lost', '1', '--identity', other.identity, '--json'], 4);
  });
});

describe('a passphrase is never accepted as an argument', () => {
  it('there is no --passphrase flag: exit 2, and the value typed after it is not echoed', async () => {
    for (const args of [
      ['backup', src, '--to', join(dir, 'argv'), '--passphrase', PASS],
      ['backup', src, '--to', join(dir, 'argv'), `--passphrase=${PASS}`],
      ['restore', tP, '--to', join(dir, 'argv-r'), `--passphrase=${PASS}`],
      ['ls', tP, '--passphrase', PASS, '--json'],
      ['keygen', '--out', join(dir, 'argv-key'), `--passphrase=${PASS}`],
      ['verify', tP, `-p${PASS}`],
    ]) {
      const { r } = await traced(args, 2);
      if (args.includes('--json')) expect(expectJsonError(r, 2).message).toMatch(/^unknown option '-(-passphrase|p)'$/);
      else expectError(r, 2, /^unknown option '-(-passphrase|p)'$/);
    }
    expect(existsSync(join(dir, 'argv'))).toBe(false);
    expect(existsSync(join(dir, 'argv-r'))).toBe(false);
    expect(existsSync(join(dir, 'argv-key'))).toBe(false);
    // Help offers only files and the environment.
    for (const cmd of ['backup', 'restore', 'keygen']) {
      const help = (await ok([cmd, '--help'])).stdout;
      expect(help).toContain('--passphrase-file');
      expect(help).not.toMatch(/--passphrase(?!-file)/);
    }
  });
});

describe('corrupted identity files are key failures (exit 4) with one clear line', () => {
  let good: string;

  beforeAll(async () => {
    good = await readFile(plain.identity, 'utf8');
  });

  async function variant(name: string, text: string | Buffer): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, text, { mode: 0o600 });
    return p;
  }

  function secretLine(text: string): { start: number; value: string } {
    const m = /^COFFER-IDENTITY-1 (\S+)$/m.exec(text)!;
    return { start: m.index + 'COFFER-IDENTITY-1 '.length, value: m[1]! };
  }

  it('a changed character outside the base64url alphabet, a changed header word, a truncated file', async () => {
    const { start, value } = secretLine(good);
    const cases: [string, string][] = [
      ['bad-char', good.slice(0, start + 10) + '!' + good.slice(start + 11)],
      ['bad-header', good.replace('COFFER-IDENTITY-1 ', 'COFFER-IDENTITY-2 ')],
      ['truncated-mid-line', good.slice(0, start + Math.floor(value.length / 2))],
      ['truncated-before-line', good.slice(0, start - 5)],
      ['empty', ''],
    ];
    for (const [name, text] of cases) {
      const p = await variant(name, text);
      const { r, log } = await traced(['ls', tR, '--identity', p], 4);
      expectError(r, 4, `${p} is not a coffer identity file`);
      expect(log.find((l) => l.event === 'key-failure'), name).toMatchObject({ level: 50, code: 'bad-identity', where: { path: p } });
      const j = await traced(['restore', tR, '--to', join(dir, `r-${name}`), '--identity', p, '--json'], 4);
      expect(expectJsonError(j.r, 4).code).toBe('bad-identity');
      expect(existsSync(join(dir, `r-${name}`))).toBe(false);
    }
  });

  it('a changed character inside the alphabet decodes to another key: the set does not open (exit 4, wrong-key)', async () => {
    const { start, value } = secretLine(good);
    const i = start + 5;
    const swapped = good.slice(0, i) + (value[5] === 'A' ? 'B' : 'A') + good.slice(i + 1);
    const p = await variant('changed-char', swapped);
    const { r, log } = await traced(['verify', tR, '--identity', p], 4);
    expectError(r, 4, `the identity given cannot open set`);
    expect(log.find((l) => l.event === 'key-failure')).toMatchObject({ code: 'wrong-key' });
  });

  it('a .pub file given as the identity (its own mode 0644, or a 0600 copy) is named as a public key file', async () => {
    const copy = await variant('pub-copy', await readFile(plain.pub));
    for (const p of [plain.pub, copy]) {
      const { r, log } = await traced(['restore', tR, '--to', join(dir, 'r-pub'), '--identity', p], 4);
      expectError(r, 4, `${p} is a public key file, not a coffer identity file`);
      expect(r.stderr).toContain('coffer: hint: give the identity file written by coffer keygen --out FILE (FILE, not FILE.pub)');
      expect(log.find((l) => l.event === 'key-failure')).toMatchObject({ code: 'bad-identity' });
    }
    expect(existsSync(join(dir, 'r-pub'))).toBe(false);
  });

  it('backup --sign-key with a corrupted identity: exit 4 before anything is written', async () => {
    const p = await variant('sign-truncated', good.slice(0, secretLine(good).start + 7));
    const t = join(dir, 'sign-target');
    const { r } = await traced(['backup', src, '--to', t, '--recipient', plain.pub, '--sign-key', p], 4);
    expectError(r, 4, `${p} is not a coffer identity file`);
    expect(existsSync(t)).toBe(false);
  });
});
