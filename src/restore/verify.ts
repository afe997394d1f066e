/**
 * Keyless verify: what can be checked without decrypting. The manifest's
 * signature (against --trust when given), then every volume: present, the
 * size and SHA-256 the manifest records. Every problem is collected so the
 * report names all missing or damaged volumes, not just the first.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { checkSignature, readManifest } from '../set/manifest-io.js';
import type { LoadedManifest, SignatureStatus } from '../set/manifest-io.js';
import type { Target } from '../targets/target.js';
import { openVolumeStream } from './volume-reader.js';

export interface VolumeCheck {
  name: string;
  status: 'ok' | 'missing' | 'size-mismatch' | 'hash-mismatch';
}

export interface StoredCheck {
  manifest: LoadedManifest;
  signature: SignatureStatus;
  volumes: VolumeCheck[];
  bytes: number;
}

export async function verifyStored(target: Target, set: string, trust: Buffer | undefined, log: Logger, progress: Progress): Promise<StoredCheck> {
  const manifest = await readManifest(target, set);
  const signature = checkSignature(manifest, trust);
  const volumes: VolumeCheck[] = [];
  let bytes = 0;
  progress.start('verify', manifest.header.volumes.reduce((n, v) => n + v.size, 0));
  try {
    for (const v of manifest.header.volumes) {
      const size = await target.size(`${set}/${v.name}`);
      if (size === undefined) {
        volumes.push({ name: v.name, status: 'missing' });
        continue;
      }
      if (size !== v.size) {
        volumes.push({ name: v.name, status: 'size-mismatch' });
        continue;
      }
      const hash = createHash('sha256');
      for await (const b of await openVolumeStream(target, { set, name: v.name })) {
        hash.update(b as Buffer);
        progress.add((b as Buffer).length);
      }
      bytes += size;
      volumes.push({ name: v.name, status: hash.digest('hex') === v.sha256 ? 'ok' : 'hash-mismatch' });
    }
  } finally {
    progress.done();
  }
  const bad = volumes.filter((v) => v.status !== 'ok');
  if (bad.length) {
    const describe = (v: VolumeCheck) => `${v.name} ${v.status === 'missing' ? 'is missing' : v.status === 'size-mismatch' ? 'has the wrong size' : 'does not match its hash'}`;
    const first = bad[0]!;
    const err = new IntegrityError(first.status === 'missing' ? 'volume-missing' : 'volume-hash-mismatch', `set ${set}: ${bad.map(describe).join('; ')}`, {
      where: { set, volume: first.name },
      hint: bad.some((v) => v.status === 'missing') ? 'find the missing volumes; coffer impact --lost shows which files they hold' : 'the volume was damaged or altered after the backup',
    });
    for (const v of bad) log.error({ event: 'verify-failed', set, volume: v.name, status: v.status }, 'volume check failed');
    throw Object.assign(err, { volumes });
  }
  return { manifest, signature, volumes, bytes };
}
