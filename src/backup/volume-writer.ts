/**
 * Compressed chunks -> sealed frames -> volumes of at most `volumeSize`
 * bytes, each put to the target as a stream and hashed as written.
 *
 * A chunk goes into the current volume only if the volume still has room
 * for it and for the end chunk that must close the volume; otherwise the
 * volume is closed with an end-of-volume chunk and the next one begins.
 * Chunk indexes rise across the whole set, so each (volume key, nonce) pair
 * is used once. The set's last volume ends with an end-of-set chunk.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { hmacSha256 } from '../crypto/kdf.js';
import { ChunkFlag, Codec, END_FRAME_BYTES, FRAME_PREFIX_BYTES, maxSealedBytes, TAG_BYTES } from '../format/chunk.js';
import { volumeName } from '../format/manifest.js';
import type { VolumeRecord } from '../format/manifest.js';
import { encodeVolumeHeader } from '../format/volume-header.js';
import type { Stanza } from '../format/volume-header.js';
import type { Target } from '../targets/target.js';
import type { Payload } from '../format/padding.js';
import type { ChunkSealer } from './encrypt.js';
import { UsageError } from '../errors.js';

export interface VolumeWriterOptions {
  target: Target;
  setName: string;
  setId: Buffer;
  chunkSize: number;
  stanzas: Stanza[];
  volumeSize: number;
  sealer: ChunkSealer;
  headerMacKey: Buffer;
  onBytes?: (n: number) => void;
}

interface OpenVolume {
  record: VolumeRecord;
  stream: PassThrough;
  hash: Hash;
  put: Promise<{ size: number }>;
}

/** Header bytes for a set with these stanzas (every volume's header has this length). */
export function headerBytes(stanzas: Stanza[], setId: Buffer, chunkSize: number): number {
  return encodeVolumeHeader({ setId, volumeIndex: 1, firstChunk: 0, chunkSize, stanzas }).length + 32;
}

export function minimumVolumeSize(stanzas: Stanza[], setId: Buffer, chunkSize: number): number {
  return headerBytes(stanzas, setId, chunkSize) + FRAME_PREFIX_BYTES + maxSealedBytes(chunkSize) + END_FRAME_BYTES;
}

export class VolumeWriter {
  private readonly volumes: VolumeRecord[] = [];
  private current: OpenVolume | undefined;
  private nextChunk = 0;

  constructor(private readonly o: VolumeWriterOptions) {
    const min = minimumVolumeSize(o.stanzas, o.setId, o.chunkSize);
    if (o.volumeSize < min) {
      throw new UsageError('volume-size-too-small', `volume size ${o.volumeSize} bytes is too small for ${o.chunkSize}-byte chunks`, {
        hint: `use --volume-size ${min} or more, or a smaller --chunk-size`,
      });
    }
  }

  async write(chunk: Payload): Promise<void> {
    const frameBytes = FRAME_PREFIX_BYTES + 1 + chunk.bytes.length + TAG_BYTES;
    if (this.current && this.current.record.size + frameBytes + END_FRAME_BYTES > this.o.volumeSize) {
      await this.close(ChunkFlag.endOfVolume);
    }
    const v = this.current ?? this.open();
    const frame = this.o.sealer.seal(v.record.index, this.nextChunk++, ChunkFlag.data, chunk.codec, chunk.bytes);
    v.record.dataChunks++;
    await this.emit(v, frame);
  }

  /** Closes the last volume (opening one if the set is empty) and returns the volume list. */
  async finish(): Promise<VolumeRecord[]> {
    if (!this.current) this.open();
    await this.close(ChunkFlag.endOfSet);
    return this.volumes;
  }

  /** Stops any volume still being written; its put fails and leaves nothing under the final name. */
  abort(err: Error): void {
    this.current?.stream.destroy(err);
  }

  private open(): OpenVolume {
    const index = this.volumes.length + 1;
    const record: VolumeRecord = { index, name: volumeName(index), size: 0, sha256: '', firstChunk: this.nextChunk, dataChunks: 0 };
    const stream = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
    stream.on('error', () => {}); // a failed put destroys the stream; the put's own rejection carries the error
    const put = this.o.target.put(`${this.o.setName}/${record.name}`, stream);
    put.catch(() => {}); // awaited in emit/close
    const v: OpenVolume = { record, stream, hash: createHash('sha256'), put };
    this.current = v;
    const body = encodeVolumeHeader({ setId: this.o.setId, volumeIndex: index, firstChunk: record.firstChunk, chunkSize: this.o.chunkSize, stanzas: this.o.stanzas });
    this.account(v, Buffer.concat([body, hmacSha256(this.o.headerMacKey, body)]));
    return v;
  }

  private async close(flag: ChunkFlag): Promise<void> {
    const v = this.current!;
    this.current = undefined;
    await this.emit(v, this.o.sealer.seal(v.record.index, this.nextChunk++, flag, Codec.none, Buffer.alloc(0)));
    v.stream.end();
    const { size } = await v.put;
    if (size !== v.record.size) throw new Error(`target stored ${size} bytes of ${v.record.name}, expected ${v.record.size}`);
    v.record.sha256 = v.hash.digest('hex');
    this.volumes.push(v.record);
  }

  /** Counts, hashes and queues bytes; false when the target is not keeping up. */
  private account(v: OpenVolume, bytes: Buffer): boolean {
    v.record.size += bytes.length;
    v.hash.update(bytes);
    this.o.onBytes?.(bytes.length);
    return v.stream.write(bytes);
  }

  private async emit(v: OpenVolume, bytes: Buffer): Promise<void> {
    if (!this.account(v, bytes)) {
      // A put that fails stops reading: wait for room or for its failure, whichever comes first.
      await Promise.race([once(v.stream, 'drain'), v.put.then(() => { throw new Error(`target closed ${v.record.name} early`); })]);
    }
  }
}
