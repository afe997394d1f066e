/**
 * Data chunks -> sealed frames -> volumes of at most `volumeSize` bytes, each
 * put to the target as it is written and hashed as written.
 *
 * A chunk's volume and global index are part of its nonce and AAD, so they
 * are decided before it is sealed; the chunks can then be sealed in parallel
 * (on workers) while their frames are written in order. The rule depends only
 * on the sizes of the frames before a chunk, never on timing: a data chunk
 * goes into the current volume iff
 *
 *     size of the volume so far + maxFrameBytes(chunkSize) + END_FRAME_BYTES <= volumeSize
 *
 * and otherwise the volume is closed with an end-of-volume chunk and the next
 * one takes the chunk. Frames still being sealed count as the largest a frame
 * can be; when the chunk does not fit with them so counted, the writer waits
 * for them, as their exact sizes may leave room, and closes the volume only
 * when nothing is in flight. A new volume always takes a chunk (the minimum
 * volume size guarantees it).
 *
 * Chunk indexes rise across the whole set and every (volume, index) pair,
 * end chunks included, is claimed from one ChunkSealer, which refuses a pair
 * twice. The set's last volume ends with an end-of-set chunk.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { hmacSha256 } from '../crypto/kdf.js';
import { ChunkFlag, Codec, END_FRAME_BYTES, maxFrameBytes } from '../format/chunk.js';
import { volumeName } from '../format/manifest.js';
import type { VolumeRecord } from '../format/manifest.js';
import { encodeVolumeHeader } from '../format/volume-header.js';
import type { Stanza } from '../format/volume-header.js';
import { ByteQueue } from '../stream/byte-queue.js';
import type { Target } from '../targets/target.js';
import type { ChunkSealer, SealParams } from './encrypt.js';
import { UsageError } from '../errors.js';

export interface VolumeWriterOptions {
  target: Target;
  setName: string;
  setId: Buffer;
  chunkSize: number;
  stanzas: Stanza[];
  volumeSize: number;
  /** Claims every chunk's (volume, index) and seals the end chunks. */
  sealer: ChunkSealer;
  headerMacKey: Buffer;
  /** Data chunks being sealed at once (default 1); more keep workers busy while frames are written. */
  inFlight?: number;
  onBytes?: (n: number) => void;
  /** Told of each buffer (header, frame) once the target is done with it, so a frame's memory can be reused. */
  released?: (bytes: Uint8Array) => void;
}

/** Seals one data chunk under the given key, nonce and AAD and returns its whole frame. */
export type SealData = (params: SealParams) => Promise<Buffer>;

/** Bytes a volume's put may have waiting before the writer waits for the target. */
const QUEUED_BYTES = 4 * 1024 * 1024;

interface OpenVolume {
  record: VolumeRecord;
  queue: ByteQueue;
  hash: Hash;
  put: Promise<{ size: number }>;
}

/** Header bytes for a set with these stanzas (every volume's header has this length). */
export function headerBytes(stanzas: Stanza[], setId: Buffer, chunkSize: number): number {
  return encodeVolumeHeader({ setId, volumeIndex: 1, firstChunk: 0, chunkSize, stanzas }).length + 32;
}

export function minimumVolumeSize(stanzas: Stanza[], setId: Buffer, chunkSize: number): number {
  return headerBytes(stanzas, setId, chunkSize) + maxFrameBytes(chunkSize) + END_FRAME_BYTES;
}

export class VolumeWriter {
  private readonly volumes: VolumeRecord[] = [];
  private current: OpenVolume | undefined;
  private nextChunk = 0;
  /** Frames being sealed, in chunk order; all belong to the current volume. */
  private readonly sealing: Promise<Buffer>[] = [];
  private readonly emptyVolumeBytes: number;
  private readonly maxFrame: number;
  private readonly inFlight: number;

  constructor(private readonly o: VolumeWriterOptions) {
    const min = minimumVolumeSize(o.stanzas, o.setId, o.chunkSize);
    if (o.volumeSize < min) {
      throw new UsageError('volume-size-too-small', `volume size ${o.volumeSize} bytes is too small for ${o.chunkSize}-byte chunks`, {
        hint: `use --volume-size ${min} or more, or a smaller --chunk-size`,
      });
    }
    this.emptyVolumeBytes = headerBytes(o.stanzas, o.setId, o.chunkSize);
    this.maxFrame = maxFrameBytes(o.chunkSize);
    this.inFlight = Math.max(1, o.inFlight ?? 1);
  }

  /**
   * Places the next data chunk (closing the volume first if it is full) and
   * starts sealing it; returns once fewer than `inFlight` chunks are being
   * sealed, having written the frames that were done, in order.
   */
  async add(seal: SealData): Promise<void> {
    while (!this.fits()) {
      if (this.sealing.length) await this.writeNext();
      else await this.close(ChunkFlag.endOfVolume);
    }
    const v = this.current ?? this.open();
    const frame = seal(this.o.sealer.claim(v.record.index, this.nextChunk++, ChunkFlag.data));
    frame.catch(() => {}); // awaited in turn by writeNext; meanwhile a failure must not go unhandled
    this.sealing.push(frame);
    v.record.dataChunks++;
    while (this.sealing.length >= this.inFlight) await this.writeNext();
  }

  /** Writes what is being sealed, closes the last volume (opening one if the set is empty) and returns the volume list. */
  async finish(): Promise<VolumeRecord[]> {
    while (this.sealing.length) await this.writeNext();
    if (!this.current) this.open();
    await this.close(ChunkFlag.endOfSet);
    return this.volumes;
  }

  /** Stops any volume still being written; its put fails and leaves nothing under the final name. */
  abort(err: Error): void {
    this.current?.queue.destroy(err);
  }

  /** Whether one more data chunk goes into the current volume, counting frames being sealed at their largest. */
  private fits(): boolean {
    const size = this.current?.record.size ?? this.emptyVolumeBytes;
    return size + (this.sealing.length + 1) * this.maxFrame + END_FRAME_BYTES <= this.o.volumeSize;
  }

  private async writeNext(): Promise<void> {
    const frame = await this.sealing.shift()!;
    // The rule above counts on it: a larger frame could overflow the volume.
    if (frame.length > this.maxFrame) throw new Error(`a sealed frame of ${frame.length} bytes is larger than any ${this.o.chunkSize}-byte chunk makes`);
    await this.emit(this.current!, frame);
  }

  private open(): OpenVolume {
    const index = this.volumes.length + 1;
    const record: VolumeRecord = { index, name: volumeName(index), size: 0, sha256: '', firstChunk: this.nextChunk, dataChunks: 0 };
    const queue = new ByteQueue(QUEUED_BYTES, this.o.released);
    const put = this.o.target.put(`${this.o.setName}/${record.name}`, queue);
    put.catch(() => {}); // awaited in emit/close
    // Hashed here, as written: handing each frame to a worker's lane to hash cost a copy and a message per frame, more CPU and memory than the hash (PERFORMANCE.md).
    const v: OpenVolume = { record, queue, hash: createHash('sha256'), put };
    this.current = v;
    const body = encodeVolumeHeader({ setId: this.o.setId, volumeIndex: index, firstChunk: record.firstChunk, chunkSize: this.o.chunkSize, stanzas: this.o.stanzas });
    this.account(v, Buffer.concat([body, hmacSha256(this.o.headerMacKey, body)]));
    return v;
  }

  private async close(flag: ChunkFlag): Promise<void> {
    const v = this.current!;
    this.current = undefined;
    await this.emit(v, this.o.sealer.seal(v.record.index, this.nextChunk++, flag, Codec.none, Buffer.alloc(0)));
    v.queue.end();
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
    return v.queue.push(bytes);
  }

  private async emit(v: OpenVolume, bytes: Buffer): Promise<void> {
    const room = this.account(v, bytes);
    if (!room) {
      // A put that fails stops reading: wait for room or for its failure, whichever comes first.
      await Promise.race([v.queue.room(), v.put.then(() => { throw new Error(`target closed ${v.record.name} early`); })]);
    }
  }
}
