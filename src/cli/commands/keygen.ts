import { randomBytes } from 'node:crypto';
import { encodeIdentity, encodePublicKey, fingerprint, writeNewKeyFile } from '../../crypto/identity-file.js';
import { identityFromSeed } from '../../crypto/keys.js';
import type { Context } from '../context.js';
import { readPassphrase } from '../keys.js';
import { printJson, say } from '../output.js';

export interface KeygenFlags {
  out: string;
  passphraseFile?: string;
}

export async function keygen(flags: KeygenFlags, ctx: Context): Promise<number> {
  const passphrase = await readPassphrase(flags.passphraseFile);
  const id = identityFromSeed(randomBytes(32));
  const pub = encodePublicKey(id.public);
  await writeNewKeyFile(flags.out, await encodeIdentity(id, passphrase), 0o600);
  await writeNewKeyFile(`${flags.out}.pub`, `# coffer public key (give this to backup hosts and to verify --trust)\n${pub}\n`, 0o644);
  ctx.log.info({ event: 'keygen', identity: flags.out, fingerprint: fingerprint(id.public.ed25519), protected: Boolean(passphrase) }, 'identity created');
  if (ctx.json) printJson({ ok: true, identity: flags.out, publicKeyFile: `${flags.out}.pub`, publicKey: pub, fingerprint: fingerprint(id.public.ed25519), protected: Boolean(passphrase) });
  else say(pub);
  return 0;
}
