/**
 * Keyless verify: what can be checked without decrypting. The manifest's
 * signature (against --trust when given), the encrypted catalog at its tail
 * (the size and SHA-256 the header records), then every volume: present,
 * the size and SHA-256 the manifest records. Every problem is collected so
 * the report names all missing or damaged volumes, not just the first.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Progress } from '../progress.js';
import { checkSignature, MANIFEST_NAME, readManifest } from '../set/manifest-io.js';
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
  const catalogOk = await catalogMatches(target, set, manifest);
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
      const source = await openVolumeStream(target, { set, name: v.name });
      for await (const b of source) {
        hash.update(b);
        progress.add(b.length);
        source.recycle?.(b);
      }
      bytes += size;
      volumes.push({ name: v.name, status: hash.digest('hex') === v.sha256 ? 'ok' : 'hash-mismatch' });
    }
  } finally {
    progress.done();
  }
  const bad = volumes.filter((v) => v.status !== 'ok');
  if (!catalogOk) log.error({ event: 'verify-failed', set, volume: MANIFEST_NAME, status: 'catalog-hash-mismatch' }, 'catalog check failed');
  if (bad.length || !catalogOk) {
    const describe = (v: VolumeCheck) => `${v.name} ${v.status === 'missing' ? 'is missing' : v.status === 'size-mismatch' ? 'has the wrong size' : 'does not match its hash'}`;
    const first = bad[0];
    const problems = [...(catalogOk ? [] : [`the catalog in the ${MANIFEST_NAME} does not match its hash`]), ...bad.map(describe)];
    const code = !catalogOk ? 'catalog-hash-mismatch' : first!.status === 'missing' ? 'volume-missing' : 'volume-hash-mismatch';
    const err = new IntegrityError(code, `set ${set}: ${problems.join('; ')}`, {
      where: { set, volume: catalogOk ? first!.name : MANIFEST_NAME },
      hint: bad.some((v) => v.status === 'missing')
        ? 'find the missing volumes; coffer impact --lost shows which files they hold'
        : bad.length ? 'the volume was damaged or altered after the backup' : 'the manifest was damaged or altered after the backup; restore --volumes-only does not need it',
    });
    for (const v of bad) log.error({ event: 'verify-failed', set, volume: v.name, status: v.status }, 'volume check failed');
    throw Object.assign(err, { volumes });
  }
  return { manifest, signature, volumes, bytes };
}

/** The encrypted catalog after the manifest header has the size and SHA-256 the (signed) header records. */
async function catalogMatches(target: Target, set: string, m: LoadedManifest): Promise<boolean> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const b of await target.get(`${set}/${MANIFEST_NAME}`, { start: m.catalogOffset })) {
    hash.update(b);
    size += b.length;
  }
  return size === m.header.catalog.size && hash.digest('hex') === m.header.catalog.sha256;
}
