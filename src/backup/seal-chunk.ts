/**
 * One data chunk of a volume, start to finish: compress, pad and seal it into
 * its whole frame. Pure and synchronous, so the worker pool (src/parallel)
 * runs it off the main thread; the main thread has already decided the
 * chunk's volume and index and claimed them (volume-writer.ts), and sends
 * what sealing needs.
 *
 * The frame is one buffer, laid out as stored (prefix, codec byte, padded
 * length, data, zero fill, tag): the compressor writes into it, padding and
 * sealing happen in place, and the buffer can be transferred whole to the
 * main thread. The main thread lends frames it has written for reuse.
 */
import { nodeAead } from '../crypto/aead.js';
import { FRAME_PREFIX_BYTES, TAG_BYTES } from '../format/chunk.js';
import { PAD_DATA_OFFSET, PADDED, padInPlace, paddedSize } from '../format/padding.js';
import { compressChunkInto, compressRoom } from './compress.js';
import type { CompressionChoice } from './compress.js';
import { sealFrameInPlace } from './encrypt.js';
import type { SealParams } from './encrypt.js';

export interface ChunkToSeal extends SealParams {
  /** The tar chunk: at most chunkSize bytes. */
  data: Uint8Array;
  choice: CompressionChoice;
  chunkSize: number;
  padStep: number;
}

const CODEC_AT = FRAME_PREFIX_BYTES;
const PADDED_AT = CODEC_AT + 1;
const DATA_AT = PADDED_AT + PAD_DATA_OFFSET;

/** Bytes sealDataChunk needs to build a frame for `length` bytes of data (more than the frame itself: room for the compressor's worst case). */
export function frameRoom(length: number, c: Pick<ChunkToSeal, 'choice' | 'chunkSize' | 'padStep'>): number {
  return PADDED_AT + Math.max(PAD_DATA_OFFSET + compressRoom(length, c.choice), paddedSize(length, c.chunkSize, c.padStep)) + TAG_BYTES;
}

/** The frame, built in `into` when it has frameRoom bytes (a view of it is returned), else in a new buffer. */
export function sealDataChunk(c: ChunkToSeal, into?: Uint8Array): Buffer {
  const data = Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength);
  const room = frameRoom(data.length, c);
  // Not from Node's shared pool: the buffer is transferred to the main thread whole.
  const frame = into && into.byteLength >= room ? Buffer.from(into.buffer, into.byteOffset, room) : Buffer.allocUnsafeSlow(room);
  const packed = compressChunkInto(data, c.choice, frame.subarray(DATA_AT));
  frame[CODEC_AT] = packed.codec | PADDED;
  const padded = padInPlace(frame.subarray(PADDED_AT), packed.length, c.chunkSize, c.padStep);
  return sealFrameInPlace(nodeAead, frame, 1 + padded, c);
}
