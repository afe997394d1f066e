// Fuzz target: identity and public key files, as the CLI loads them from
// disk (loadIdentity, loadPublicKey): the file's bytes mutated (invalid
// UTF-8, NUL, CR, a BOM, runs past the 64 KiB limit, edits at the keyword,
// the separator and the base64 body), its mode, and for a passphrase-
// protected identity the right, a wrong or no passphrase. The unit tests
// fuzz the text parsers (test/unit/format-fuzz.test.ts); this covers the
// file layer and the unlock path around them.
//
// Properties: only KeyError or UsageError; an unchanged file loads; a
// protected identity only ever unlocks to the original seed and never with
// a wrong passphrase; a public key file only ever decodes to the original
// keys (its checksum). scrypt parameters are bounded by design (kdf.ts:
// N <= 2^20, 1 GiB), so this target's memory cap allows for that.
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll } from 'vitest';
import { encodeIdentity, encodePublicKey, loadIdentity, loadPublicKey } from '../../src/crypto/identity-file.js';
import { KeyError, UsageError } from '../../src/errors.js';
import { defineFuzzTarget, fromJson, toJson, typedOutcome } from './lib/harness.js';
import { applyEdits, editsArb } from './lib/mutate.js';
import type { Edit, Piece } from './lib/mutate.js';
import { identity } from './lib/sets.js';

interface KeyFileCase {
  kind: 'plain' | 'protected' | 'public';
  edits: Edit[];
  mode: number;
  passphrase: 'right' | 'wrong' | 'none';
}

const PASSPHRASE = Buffer.from('correct horse battery staple');
const dir = mkdtempSync(join(tmpdir(), 'coffer-fuzz-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const texts: Partial<Record<KeyFileCase['kind'], Piece>> = {};

function landmarks(b: Buffer): number[] {
  const marks = [0, b.length];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a || b[i] === 0x20 || b[i] === 0x3a || b[i] === 0x23) marks.push(i, i + 1);
  return marks;
}

async function setup(): Promise<void> {
  if (texts.plain) return;
  const files = {
    plain: await encodeIdentity(identity),
    protected: await encodeIdentity(identity, PASSPHRASE, { logN: 10, r: 8, p: 1 }),
    public: encodePublicKey(identity.public) + '\n',
  };
  for (const [k, v] of Object.entries(files)) {
    const bytes = Buffer.from(v, 'utf8');
    texts[k as KeyFileCase['kind']] = { bytes, marks: landmarks(bytes) };
  }
}

const arbitrary: fc.Arbitrary<KeyFileCase> = fc.record({
  kind: fc.constantFrom('plain' as const, 'protected' as const, 'public' as const),
  edits: fc.oneof(fc.constant<Edit[]>([]), editsArb({ maxEdits: 3, maxRepeat: 70_000, maxRandom: 200 })),
  mode: fc.constantFrom(0o600, 0o600, 0o400, 0o640, 0o644, 0o000),
  passphrase: fc.constantFrom('right' as const, 'wrong' as const, 'none' as const),
});

let counter = 0;

async function run(c: KeyFileCase): Promise<string> {
  await setup();
  const original = texts[c.kind]!;
  const bytes = applyEdits(original, c.edits);
  const changed = !bytes.equals(original.bytes);
  const path = join(dir, `key-${++counter}`);
  await writeFile(path, bytes);
  await chmod(path, c.mode);
  const pass = c.passphrase === 'right' ? PASSPHRASE : c.passphrase === 'wrong' ? Buffer.from('wrong') : undefined;
  const allowed = (e: unknown) => e instanceof KeyError || e instanceof UsageError;
  const outcomes: string[] = [];
  try {
    try {
      const id = await loadIdentity(path, async () => pass);
      // Root reads any mode, and a mode without group/other bits passes the check.
      if (c.kind === 'protected' && !id.seed.equals(identity.seed)) throw new Error('a protected identity unlocked to another seed');
      if (c.kind === 'protected' && c.passphrase !== 'right') throw new Error('a protected identity unlocked without the right passphrase');
      if (!changed && (c.mode & 0o077) !== 0) throw new Error('an identity readable by others was accepted');
      outcomes.push('identity ok');
    } catch (err) {
      const o = typedOutcome(err, allowed);
      if (!changed && c.kind !== 'public' && (c.mode & 0o077) === 0 && (c.kind === 'plain' || c.passphrase === 'right')) throw new Error(`an unchanged identity failed: ${o}`, { cause: err });
      outcomes.push(`identity ${o}`);
    }
    try {
      const keys = await loadPublicKey(path);
      if (c.kind === 'public' && !(keys.x25519.equals(identity.public.x25519) && keys.ed25519.equals(identity.public.ed25519))) throw new Error('a public key file decoded to other keys');
      outcomes.push('public ok');
    } catch (err) {
      const o = typedOutcome(err, allowed);
      if (!changed && c.kind !== 'protected') throw new Error(`an unchanged key file failed as a public key: ${o}`, { cause: err });
      outcomes.push(`public ${o}`);
    }
  } finally {
    rmSync(path, { force: true });
  }
  return `${c.kind}: ${outcomes.join(', ')}`;
}

defineFuzzTarget<KeyFileCase>({
  name: 'keyfiles',
  file: 'test/fuzz/keyfiles.test.ts',
  arbitrary,
  run,
  boundedRuns: 200,
  caseTimeoutMs: 20_000,
  rssGrowthCap: 1280 * 2 ** 20,
  seedExt: 'json',
  toSeed: toJson,
  fromSeed: (b) => fromJson<KeyFileCase>(b),
  setup,
});
