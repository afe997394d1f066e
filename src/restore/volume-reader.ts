/**
 * One volume -> its authenticated data chunks, in order. Checks, and names
 * the volume (and chunk) in every failure: the header parses and belongs to
 * this set, its MAC holds, it is the volume expected at this position, every
 * frame is whole and authenticates with the expected index, the volume ends
 * with the expected end chunk and nothing follows it, and it is as long as
 * the manifest recorded. Chunks the caller does not want are framed but not
 * decrypted; when every chunk is wanted, every byte is authenticated: the
 * header by its MAC, each frame (its length field included) by its AES-GCM
 * tag, the volume's end by its end chunk. Data frames are handed on sealed:
 * the caller authenticates and decrypts them (on the worker pool, see
 * tar-source.ts); end frames are opened here, as the volume's end depends
 * on them.
 */
import { hmacSha256 } from '../crypto/kdf.js';
import { constantTimeEqual } from '../crypto/keys.js';
import { IntegrityError, TargetError } from '../errors.js';
import { ChunkFlag, END_SEALED_BYTES, FRAME_PREFIX_BYTES, maxSealedBytes } from '../format/chunk.js';
import { decodeVolumeHeader, HEADER_PREFIX_BYTES, volumeHeaderLength } from '../format/volume-header.js';
import type { VolumeHeader } from '../format/volume-header.js';
import { setIdText } from '../format/set-id.js';
import { ByteReader } from '../stream/byte-reader.js';
import type { Target } from '../targets/target.js';
import type { ChunkOpener } from './decrypt.js';
import type { ChunkMemory } from './chunk-memory.js';

export interface VolumeExpectation {
  set: string;
  setId: Buffer;
  name: string;
  index: number;
  /** From the manifest; unknown when restoring from volumes alone. */
  firstChunk?: number;
  size?: number;
  /** true: must end the set; false: must not; undefined: either (volumes alone). */
  last?: boolean;
}

export interface VolumeKeys {
  opener: ChunkOpener;
  headerMacKey: Buffer;
}

/** A data frame, still sealed. */
export interface DataChunk {
  volumeIndex: number;
  chunkIndex: number;
  /** The set's plaintext chunk size, from the volume header. */
  chunkSize: number;
  sealed: Buffer;
}

export interface VolumeEnd {
  endsSet: boolean;
  nextChunk: number;
}

export function chunkTampered(exp: { set: string; name: string }, chunkIndex: number): IntegrityError {
  return new IntegrityError('chunk-tampered', `${exp.name}: chunk ${chunkIndex} failed authentication (corrupt, tampered or out of order)`, {
    where: { set: exp.set, volume: exp.name, chunk: chunkIndex },
  });
}

export async function openVolumeStream(target: Target, exp: { set: string; name: string }) {
  try {
    return await target.get(`${exp.set}/${exp.name}`);
  } catch (err) {
    if (err instanceof TargetError && err.code === 'not-found') {
      throw new IntegrityError('volume-missing', `${exp.name} of set ${exp.set} is missing from ${target.display}`, { where: { set: exp.set, volume: exp.name }, hint: 'find the volume and copy it back, or restore what the other volumes hold' });
    }
    throw err;
  }
}

export async function readVolumeHeader(r: ByteReader, name: string): Promise<{ header: VolumeHeader; macInput: Buffer; mac: Buffer }> {
  // Copied: it is used after the next read, when the source may already have reused its buffer.
  const prefix = await r.read(HEADER_PREFIX_BYTES, Buffer.alloc(HEADER_PREFIX_BYTES));
  const length = volumeHeaderLength(prefix, name);
  const rest = await r.read(length - HEADER_PREFIX_BYTES);
  return decodeVolumeHeader(Buffer.concat([prefix, rest]), name);
}

/** `memory` gives each wanted data frame memory of its own to be read into (restore/chunk-memory.ts). */
export async function* readVolumeChunks(
  target: Target,
  exp: VolumeExpectation,
  keys: VolumeKeys,
  want: (chunkIndex: number) => boolean = () => true,
  memory?: ChunkMemory,
): AsyncGenerator<DataChunk, VolumeEnd> {
  const name = exp.name;
  const where = { set: exp.set, volume: name };
  const fail = (code: string, what: string, chunk?: number) =>
    new IntegrityError(code, `${name}: ${what}`, { where: chunk === undefined ? where : { ...where, chunk } });
  const source = await openVolumeStream(target, exp);
  // Every byte is copied out or used before the reader's next call, so the source may reuse its buffers.
  const r = new ByteReader(source, undefined, source.recycle && ((b) => source.recycle!(b)));
  try {
    const { header, macInput, mac } = await readVolumeHeader(r, name);
    if (!header.setId.equals(exp.setId)) throw fail('foreign-volume', `belongs to set ${setIdText(header.setId)}, not to set ${exp.set}`);
    if (!constantTimeEqual(hmacSha256(keys.headerMacKey, macInput), mac)) throw fail('volume-header-tampered', 'header failed authentication (tampered or corrupt)');
    if (header.volumeIndex !== exp.index) throw fail('volume-out-of-place', `holds volume ${header.volumeIndex} of the set, not volume ${exp.index} (swapped or renamed)`);
    if (exp.firstChunk !== undefined && header.firstChunk !== exp.firstChunk) throw fail('volume-out-of-place', `starts at chunk ${header.firstChunk}, not at chunk ${exp.firstChunk}`);
    const maxSealed = maxSealedBytes(header.chunkSize);
    let chunkIndex = header.firstChunk;
    for (;;) {
      const prefix = await r.read(FRAME_PREFIX_BYTES);
      if (prefix.length === 0) throw fail('volume-truncated', `truncated after chunk ${chunkIndex - 1} (its end chunk is missing)`, chunkIndex);
      if (prefix.length < FRAME_PREFIX_BYTES) throw fail('volume-truncated', `truncated inside the length of chunk ${chunkIndex}`, chunkIndex);
      const length = prefix.readUInt32BE(0);
      if (length > maxSealed || length < END_SEALED_BYTES) throw fail('chunk-corrupt', `chunk ${chunkIndex} has an impossible length ${length} (corrupt or tampered)`, chunkIndex);
      const wanted = length !== END_SEALED_BYTES && want(chunkIndex);
      // A wanted frame outlives the reader's next call, so it is always copied out of the source's buffer.
      const sealed = await r.read(length, wanted ? (memory?.take() ?? Buffer.allocUnsafeSlow(length)) : undefined);
      if (sealed.length < length) throw fail('volume-truncated', `truncated inside chunk ${chunkIndex}`, chunkIndex);
      if (length !== END_SEALED_BYTES) {
        if (wanted) yield { volumeIndex: exp.index, chunkIndex, chunkSize: header.chunkSize, sealed };
        chunkIndex++;
        continue;
      }
      const opened = keys.opener.open(exp.index, chunkIndex, sealed);
      if (!opened) throw chunkTampered(exp, chunkIndex);
      const endsSet = opened.flag === ChunkFlag.endOfSet;
      if (!(await r.atEnd())) throw fail('trailing-data', `unexpected bytes after its end chunk ${chunkIndex}`, chunkIndex);
      if (exp.last === true && !endsSet) throw fail('set-truncated', 'the set continues after this volume, but the manifest lists no later volume');
      if (exp.last === false && endsSet) throw fail('set-truncated', 'ends the set, but the manifest lists later volumes');
      if (exp.size !== undefined && r.position !== exp.size) throw fail('volume-size-mismatch', `is ${r.position} bytes, the manifest says ${exp.size}`);
      return { endsSet, nextChunk: chunkIndex + 1 };
    }
  } finally {
    await r.close();
  }
}
