/**
 * Writing and reading a set's manifest. Write order is the invariant that
 * makes an interrupted backup visible: every volume is stored first, the
 * manifest last, through an atomic put, so a set without a manifest is
 * incomplete by definition.
 */
import { hmacSha256, manifestMacKey } from '../crypto/kdf.js';
import { constantTimeEqual, signManifest, verifyManifestSignature } from '../crypto/keys.js';
import type { Identity } from '../crypto/keys.js';
import { IntegrityError, KeyError, TargetError } from '../errors.js';
import {
  decodeManifestHeader,
  encodeManifestAuth,
  encodeManifestHeaderJson,
  MANIFEST_MAC_BYTES,
  MANIFEST_PREFIX_BYTES,
  manifestHeaderLength,
  SIGNATURE_BYTES,
  signatureMessage,
} from '../format/manifest.js';
import type { ManifestHeader } from '../format/manifest.js';
import { parseSetIdText } from '../format/set-id.js';
import { ByteReader } from '../stream/byte-reader.js';
import type { Target } from '../targets/target.js';
import type { SealedCatalog } from '../backup/catalog-writer.js';
import { fingerprint } from '../crypto/identity-file.js';

export const MANIFEST_NAME = 'manifest';

export async function writeManifest(
  target: Target,
  header: ManifestHeader,
  dataKey: Buffer,
  signer: Identity | undefined,
  catalog: SealedCatalog,
): Promise<number> {
  const setId = parseSetIdText(header.set)!;
  const headerBytes = encodeManifestHeaderJson(header);
  const mac = hmacSha256(manifestMacKey(dataKey, setId), headerBytes);
  const signature = signer ? signManifest(signer, signatureMessage(headerBytes)) : null;
  const auth = encodeManifestAuth(mac, signature);
  const { size } = await target.put(`${header.set}/${MANIFEST_NAME}`, (async function* () {
    yield headerBytes;
    yield auth;
    yield* catalog.open();
  })());
  return size;
}

export interface LoadedManifest {
  header: ManifestHeader;
  headerBytes: Buffer;
  mac: Buffer;
  signature: Buffer | null;
  /** Byte offset of the encrypted catalog in the manifest object. */
  catalogOffset: number;
}

export async function readManifest(target: Target, set: string): Promise<LoadedManifest> {
  let stream;
  try {
    stream = await target.get(`${set}/${MANIFEST_NAME}`);
  } catch (err) {
    if (err instanceof TargetError && err.code === 'not-found') {
      throw new IntegrityError('manifest-missing', `set ${set} has no manifest: the backup did not finish, or the manifest was lost`, {
        where: { set, volume: MANIFEST_NAME },
        hint: 'restore from the volumes alone with --volumes-only',
      });
    }
    throw err;
  }
  const r = new ByteReader(stream);
  try {
    const prefix = await r.read(MANIFEST_PREFIX_BYTES);
    const total = manifestHeaderLength(prefix);
    const rest = await r.read(total - MANIFEST_PREFIX_BYTES);
    const auth = await r.read(MANIFEST_MAC_BYTES + 1);
    if (rest.length !== total - MANIFEST_PREFIX_BYTES || auth.length !== MANIFEST_MAC_BYTES + 1) throw truncated(set);
    const headerBytes = Buffer.concat([prefix, rest]);
    const header = decodeManifestHeader(headerBytes);
    if (header.set !== set) {
      throw new IntegrityError('foreign-manifest', `the manifest in folder ${set} belongs to set ${header.set}`, { where: { set, volume: MANIFEST_NAME }, hint: 'a manifest was copied or replayed from another set' });
    }
    let signature: Buffer | null = null;
    const flag = auth[MANIFEST_MAC_BYTES];
    if (flag === 1) {
      signature = await r.read(SIGNATURE_BYTES);
      if (signature.length !== SIGNATURE_BYTES) throw truncated(set);
    } else if (flag !== 0) {
      throw new IntegrityError('bad-manifest', `manifest of set ${set}: bad signature flag`, { where: { set, volume: MANIFEST_NAME } });
    }
    if ((signature === null) !== (header.signer === null)) {
      throw new IntegrityError('manifest-signature-invalid', `manifest of set ${set}: signature missing or unexpected`, { where: { set, volume: MANIFEST_NAME } });
    }
    return { header, headerBytes, mac: auth.subarray(0, MANIFEST_MAC_BYTES), signature, catalogOffset: r.position };
  } finally {
    await r.close();
  }
}

function truncated(set: string): IntegrityError {
  return new IntegrityError('manifest-truncated', `manifest of set ${set} is truncated`, { where: { set, volume: MANIFEST_NAME } });
}

export type SignatureStatus = { signed: false } | { signed: true; signer: string; trusted: boolean | undefined };

/**
 * Checks the signature (keyless). A bad signature is tampering; a good one by
 * a key other than `trust` is an untrusted signer (exit 4).
 */
export function checkSignature(m: LoadedManifest, trust: Buffer | undefined): SignatureStatus {
  const set = m.header.set;
  if (!m.header.signer || !m.signature) {
    if (trust) throw new KeyError('manifest-unsigned', `manifest of set ${set} is not signed, but --trust requires a signature`, { where: { set, volume: MANIFEST_NAME } });
    return { signed: false };
  }
  if (!verifyManifestSignature(m.header.signer, signatureMessage(m.headerBytes), m.signature)) {
    throw new IntegrityError('manifest-signature-invalid', `manifest of set ${set}: signature does not match its contents (edited or corrupt)`, { where: { set, volume: MANIFEST_NAME } });
  }
  const signer = fingerprint(m.header.signer);
  if (trust && !trust.equals(m.header.signer)) {
    throw new KeyError('untrusted-signer', `manifest of set ${set} is signed by ${signer}, not by the trusted key ${fingerprint(trust)}`, { where: { set, volume: MANIFEST_NAME } });
  }
  return { signed: true, signer, trusted: trust ? true : undefined };
}

/** Checks the keyed MAC; a mismatch means the manifest was edited. */
export function checkManifestMac(m: LoadedManifest, dataKey: Buffer): void {
  const setId = parseSetIdText(m.header.set)!;
  if (!constantTimeEqual(hmacSha256(manifestMacKey(dataKey, setId), m.headerBytes), m.mac)) {
    throw new IntegrityError('manifest-mac-invalid', `manifest of set ${m.header.set} failed authentication (edited or corrupt)`, { where: { set: m.header.set, volume: MANIFEST_NAME } });
  }
}
