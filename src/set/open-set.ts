/**
 * Opening a set for reading with a key: manifest, signature, data key, MAC.
 * When the manifest's stanzas do not open with the key given but a volume's
 * do, the manifest was tampered with, and that is what gets reported; the
 * same holds for volume 1 with --volumes-only. A key failure (exit 4) means
 * no part of the set opens with the key.
 */
import { nodeAead } from '../crypto/aead.js';
import { headerMacKey } from '../crypto/kdf.js';
import { unwrapDataKey } from '../crypto/keys.js';
import type { KeySource } from '../crypto/keys.js';
import { IntegrityError, KeyError } from '../errors.js';
import { volumeName } from '../format/manifest.js';
import type { ManifestHeader } from '../format/manifest.js';
import { parseSetIdText } from '../format/set-id.js';
import { ChunkOpener } from '../restore/decrypt.js';
import { openVolumeStream, readVolumeHeader } from '../restore/volume-reader.js';
import type { VolumeKeys } from '../restore/volume-reader.js';
import { ByteReader } from '../stream/byte-reader.js';
import type { Target } from '../targets/target.js';
import { checkManifestMac, checkSignature, readManifest } from './manifest-io.js';
import type { LoadedManifest, SignatureStatus } from './manifest-io.js';
import { encodeStanza } from '../format/volume-header.js';
import type { Stanza, VolumeHeader } from '../format/volume-header.js';

export interface OpenedSet {
  target: Target;
  set: string;
  setId: Buffer;
  dataKey: Buffer;
  keys: VolumeKeys;
  /** Absent when restoring from volumes alone. */
  manifest?: LoadedManifest;
  signature?: SignatureStatus;
}

function keyFailure(set: string, keys: KeySource): KeyError {
  const what = keys.identities.length && keys.passphrase ? 'the identity and passphrase given' : keys.identities.length ? 'the identity given' : 'the passphrase given';
  return new KeyError('wrong-key', `${what} cannot open set ${set}`, {
    where: { set },
    hint: keys.identities.length ? 'check --identity (the set may have been made for another recipient)' : 'check the passphrase',
  });
}

function opened(target: Target, set: string, setId: Buffer, dataKey: Buffer): OpenedSet {
  return {
    target,
    set,
    setId,
    dataKey,
    keys: { opener: new ChunkOpener(nodeAead, dataKey, setId), headerMacKey: headerMacKey(dataKey, setId) },
  };
}

async function volumeHeaderOf(target: Target, set: string, index: number): Promise<VolumeHeader | undefined> {
  const name = volumeName(index);
  try {
    const r = new ByteReader(await openVolumeStream(target, { set, name }));
    try {
      return (await readVolumeHeader(r, name)).header;
    } finally {
      await r.close();
    }
  } catch {
    return undefined;
  }
}

export async function openSet(target: Target, set: string, keys: KeySource, trust?: Buffer): Promise<OpenedSet> {
  const manifest = await readManifest(target, set);
  const signature = checkSignature(manifest, trust);
  const setId = parseSetIdText(set)!;
  const dataKey = await unwrapDataKey(manifest.header.stanzas, setId, keys);
  if (!dataKey) {
    const header = await volumeHeaderOf(target, set, 1);
    if (header && header.setId.equals(setId) && (await unwrapDataKey(header.stanzas, setId, keys))) {
      throw new IntegrityError('manifest-stanza-tampered', `manifest of set ${set}: its key stanzas were altered (the volumes open with this key)`, { where: { set, volume: 'manifest' }, hint: 'restore with --volumes-only' });
    }
    throw keyFailure(set, keys);
  }
  checkManifestMac(manifest, dataKey);
  return { ...opened(target, set, setId, dataKey), manifest, signature };
}

/** For --volumes-only: the data key from the first volume's header. */
export async function openSetFromVolumes(target: Target, set: string, keys: KeySource): Promise<OpenedSet> {
  const setId = parseSetIdText(set)!;
  const name = volumeName(1);
  const r = new ByteReader(await openVolumeStream(target, { set, name }));
  let header: VolumeHeader;
  try {
    header = (await readVolumeHeader(r, name)).header;
  } finally {
    await r.close();
  }
  if (!header.setId.equals(setId)) throw new IntegrityError('foreign-volume', `${name} in folder ${set} belongs to another set`, { where: { set, volume: name } });
  const dataKey = await unwrapDataKey(header.stanzas, setId, keys);
  if (!dataKey) {
    if (await opensElsewhere(target, set, setId, keys, header.stanzas)) {
      throw new IntegrityError('volume-stanza-tampered', `${name} of set ${set}: its key stanzas were altered (other parts of the set open with this key)`, { where: { set, volume: name } });
    }
    throw keyFailure(set, keys);
  }
  return opened(target, set, setId, dataKey);
}

/**
 * Whether the manifest's or the second volume's stanzas open with these keys
 * when volume 1's (`failed`) did not. Stanzas identical to those are not
 * tried again, so a plain wrong key costs no extra key derivation.
 */
async function opensElsewhere(target: Target, set: string, setId: Buffer, keys: KeySource, failed: Stanza[]): Promise<boolean> {
  const same = (s: Stanza[]) => Buffer.concat(s.map(encodeStanza)).equals(Buffer.concat(failed.map(encodeStanza)));
  const manifest = await readManifest(target, set).catch(() => undefined);
  if (manifest && !same(manifest.header.stanzas) && (await unwrapDataKey(manifest.header.stanzas, setId, keys))) return true;
  const header = await volumeHeaderOf(target, set, 2);
  return Boolean(header && header.setId.equals(setId) && !same(header.stanzas) && (await unwrapDataKey(header.stanzas, setId, keys)));
}

export function manifestOf(s: OpenedSet): ManifestHeader {
  if (!s.manifest) throw new Error('set opened without a manifest');
  return s.manifest.header;
}
