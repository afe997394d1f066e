/**
 * Key modes through the CLI: recipients and identities, passphrases from a
 * file and from COFFER_PASSPHRASE, passphrase-protected identities, refused
 * identity permissions, wrong keys (exit 4, nothing written) and signer
 * trust. Passphrase operations cost about a second of scrypt each, so they
 * are few and each one checks several things.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coffer, expectError, expectJsonError, json, keygen, ok, onlySet, tempDir, useTempDirs } from '../helpers/cli.js';
import type { Keys } from '../helpers/cli.js';
import { expectSameTree, listTree, restoredPath } from '../helpers/tree.js';

useTempDirs();

let dir: string;
let src: string;
let alice: Keys;
let bob: Keys;
let mallory: Keys;

async function smallTree(root: string): Promise<void> {
  await mkdir(join(root, 'docs'), { recursive: true });
  await writeFile(join(root, 'docs', 'a.txt'), 'alpha\n');
  await writeFile(join(root, 'docs', 'b.txt'), 'beta\n'.repeat(1000));
  await writeFile(join(root, 'top.txt'), 'top\n');
  await chmod(join(root, 'top.txt'), 0o640);
}

/** Nothing at all was created for a restore that failed before it started. */
async function expectNothingRestored(to: string): Promise<void> {
  expect(await listTree(to)).toEqual([]);
}

beforeAll(async () => {
  dir = await tempDir('keys');
  src = join(dir, 'src');
  await smallTree(src);
  [alice, bob, mallory] = [await keygen(dir, 'alice'), await keygen(dir, 'bob'), await keygen(dir, 'mallory')];
});

describe('recipients and identities', () => {
  let target: string;
  let set: string;

  beforeAll(async () => {
    target = join(dir, 'two-recipients');
    await ok(['backup', src, '--to', target, '--recipient', alice.pub, '--recipient', bob.pub, '--sign-key', alice.identity]);
    set = await onlySet(target);
  });

  it('keygen writes a 0600 identity and a public key file, and prints the public key', async () => {
    expect((await stat(alice.identity)).mode & 0o777).toBe(0o600);
    const pub = await readFile(alice.pub, 'utf8');
    expect(pub).toMatch(/^coffer-pub-1:/m);
    const again = await coffer(['keygen', '--out', alice.identity]);
    expectError(again, 2, alice.identity, 'already exists');
    expect((await readFile(alice.pub, 'utf8'))).toBe(pub);
  });

  it('every recipient can restore the set with its identity', async () => {
    for (const k of [alice, bob]) {
      const to = join(dir, `restored-${k === alice ? 'alice' : 'bob'}`);
      await ok(['restore', target, '--to', to, '--identity', k.identity]);
      await expectSameTree(restoredPath(to, src), src);
    }
  });

  it('a wrong identity is a key failure (exit 4) and writes nothing', async () => {
    const to = join(dir, 'restored-mallory');
    expectError(await coffer(['restore', target, '--to', to, '--identity', mallory.identity]), 4, `cannot open set ${set}`);
    await expectNothingRestored(to);
    expectError(await coffer(['verify', target, '--identity', mallory.identity]), 4, `cannot open set ${set}`);
    expectError(await coffer(['ls', target, '--identity', mallory.identity]), 4, `cannot open set ${set}`);
    const e = expectJsonError(await coffer(['restore', target, '--to', to, '--identity', mallory.identity, '--json']), 4);
    expect(e.code).toBe('wrong-key');
    await expectNothingRestored(to);
  });

  it('a public key file given as --identity is refused', async () => {
    const pubCopy = join(dir, 'pub-as-identity');
    await writeFile(pubCopy, await readFile(alice.pub), { mode: 0o600 });
    expectError(await coffer(['ls', target, '--identity', pubCopy]), 4, 'not a coffer identity');
  });

  it('an identity file readable by others (0644) is refused with exit 4', async () => {
    const loose = join(dir, 'loose');
    await writeFile(loose, await readFile(alice.identity));
    await chmod(loose, 0o644);
    const to = join(dir, 'restored-loose');
    expectError(await coffer(['restore', target, '--to', to, '--identity', loose]), 4, loose, 'readable by others', '0644');
    await expectNothingRestored(to);
    // backup --sign-key refuses it too.
    expectError(await coffer(['backup', src, '--to', join(dir, 'loose-target'), '--recipient', alice.pub, '--sign-key', loose]), 4, 'readable by others');
    expect(await listTree(join(dir, 'loose-target'))).toEqual([]);
  });

  it('verify --trust: the signer is accepted, another key is refused with exit 4', async () => {
    const v = json(await ok(['verify', target, '--trust', alice.pub, '--json']));
    expect(v.signature).toMatchObject({ signed: true, trusted: true });
    expectError(await coffer(['verify', target, '--trust', bob.pub]), 4, `manifest of set ${set} is signed by`, 'not by the trusted key');
    expectError(await coffer(['verify', target, '--trust', bob.pub, '--identity', alice.identity]), 4, 'not by the trusted key');
    const to = join(dir, 'restored-untrusted');
    expectError(await coffer(['restore', target, '--to', to, '--identity', alice.identity, '--trust', bob.pub]), 4, 'not by the trusted key');
    await expectNothingRestored(to);
  });
});

describe('passphrases', () => {
  let target: string;
  let set: string;
  let passFile: string;

  beforeAll(async () => {
    target = join(dir, 'passphrase');
    passFile = join(dir, 'pass');
    await writeFile(passFile, 'correct horse battery staple\n');
    // No recipient: COFFER_PASSPHRASE protects the set.
    await ok(['backup', src, '--to', target], { env: { COFFER_PASSPHRASE: 'correct horse battery staple' } });
    set = await onlySet(target);
  });

  it('restore with --passphrase-file (trailing newline ignored), ls with COFFER_PASSPHRASE', async () => {
    const to = join(dir, 'restored-pass');
    await ok(['restore', target, '--to', to, '--passphrase-file', passFile]);
    await expectSameTree(restoredPath(to, src), src);
    const l = json(await ok(['ls', target, '--json'], { env: { COFFER_PASSPHRASE: 'correct horse battery staple' } }));
    expect(l.entries.map((e: any) => e.path)).toContain(`${src.slice(1)}/docs/b.txt`);
  });

  it('a wrong passphrase is a key failure (exit 4) and writes nothing', async () => {
    const wrong = join(dir, 'wrong-pass');
    await writeFile(wrong, 'incorrect horse\n');
    const to = join(dir, 'restored-wrong-pass');
    expectError(await coffer(['restore', target, '--to', to, '--passphrase-file', wrong]), 4, `the passphrase given cannot open set ${set}`);
    await expectNothingRestored(to);
  });

  it('an unsigned set with --trust is refused with exit 4, without a key', async () => {
    expectError(await coffer(['verify', target, '--trust', alice.pub]), 4, `manifest of set ${set} is not signed`);
  });

  it('an identity protected by a passphrase signs and decrypts once unlocked', async () => {
    const env = { COFFER_PASSPHRASE: 'identity secret' };
    const prot = await keygen(dir, 'protected', [], { env });
    expect(await readFile(prot.identity, 'utf8')).toMatch(/^COFFER-IDENTITY-1-SCRYPT /m);
    expect((await stat(prot.identity)).mode & 0o777).toBe(0o600);
    const t = join(dir, 'protected-target');
    // With a recipient, COFFER_PASSPHRASE only unlocks the signing identity.
    const b = json(await ok(['backup', src, '--to', t, '--recipient', prot.pub, '--sign-key', prot.identity, '--json'], { env }));
    expect(b.signer).toEqual(expect.any(String));
    const idPass = join(dir, 'identity-pass');
    await writeFile(idPass, 'identity secret\n');
    const to = join(dir, 'restored-protected');
    await ok(['restore', t, '--to', to, '--identity', prot.identity, '--passphrase-file', idPass, '--trust', prot.pub]);
    await expectSameTree(restoredPath(to, src), src);

    const locked = join(dir, 'restored-locked');
    expectError(await coffer(['restore', t, '--to', locked, '--identity', prot.identity]), 4, `identity file ${prot.identity} is protected by a passphrase`);
    await expectNothingRestored(locked);
    const wrong = join(dir, 'wrong-identity-pass');
    await writeFile(wrong, 'not the identity secret\n');
    expectError(await coffer(['restore', t, '--to', locked, '--identity', prot.identity, '--passphrase-file', wrong]), 4, `wrong passphrase for identity file ${prot.identity}`);
    await expectNothingRestored(locked);
  });
});
