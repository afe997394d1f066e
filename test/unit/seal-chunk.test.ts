// backup/seal-chunk: a data chunk compressed, padded and sealed in one buffer
// is byte for byte the frame the step-by-step path makes (compressChunk,
// padPayload, sealFrame), opens to the chunk, and is the same when a worker
// thread makes it.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { compressChunk } from '../../src/backup/compress.js';
import type { CompressionChoice } from '../../src/backup/compress.js';
import { ChunkSealer, sealFrame } from '../../src/backup/encrypt.js';
import { frameRoom, sealDataChunk } from '../../src/backup/seal-chunk.js';
import { nodeAead } from '../../src/crypto/aead.js';
import { ChunkFlag, FRAME_PREFIX_BYTES, maxFrameBytes } from '../../src/format/chunk.js';
import { padPayload, padStep } from '../../src/format/padding.js';
import { newSetId } from '../../src/format/set-id.js';
import { ChunkOpener } from '../../src/restore/decrypt.js';
import { payloadPlaintext } from '../../src/restore/payload.js';
// The compiled pool: only there does the worker script exist (npm test compiles first).
import { chunkWork } from '../../dist/parallel/pool.js';
import { seededRandom } from './helpers.js';

const CHUNK = 65536;
const dataKey = randomBytes(32);
const setId = newSetId();
const text = (n: number) => Buffer.from('a line of text that compresses, 0123456789\n'.repeat(Math.ceil(n / 43))).subarray(0, n);

const cases: [string, Buffer][] = [
  ['text', text(CHUNK)],
  ['random', randomBytes(CHUNK)],
  ['short text', text(1000)],
  ['one byte', Buffer.from('x')],
  ['text then random', Buffer.concat([text(CHUNK / 2), randomBytes(CHUNK / 2)])],
];

describe('sealDataChunk', () => {
  test.each(['zstd', 'deflate', 'none'] as const)('%s: the frame compress, pad and seal make step by step; it opens to the chunk', (choice: CompressionChoice) => {
    const sealer = new ChunkSealer(nodeAead, dataKey, setId);
    const opener = new ChunkOpener(nodeAead, dataKey, setId);
    let g = 0;
    for (const full of [false, true]) {
      const step = padStep(CHUNK, full);
      for (const [name, data] of cases) {
        const params = sealer.claim(2, g, ChunkFlag.data);
        const frame = sealDataChunk({ ...params, data, choice, chunkSize: CHUNK, padStep: step });
        const padded = padPayload(compressChunk(data, choice), CHUNK, step);
        expect(frame.equals(sealFrame(nodeAead, params, padded.codec, padded.bytes)), `${name}, --pad ${full}`).toBe(true);
        expect(frame.length).toBeLessThanOrEqual(maxFrameBytes(CHUNK));
        const opened = opener.open(2, g++, frame.subarray(FRAME_PREFIX_BYTES))!;
        expect(payloadPlaintext(opened.codec, opened.data, CHUNK)?.equals(data), name).toBe(true);
      }
    }
  });

  test('the frame owns its whole buffer, so it can be transferred from a worker without a copy', () => {
    const frame = sealDataChunk({ ...new ChunkSealer(nodeAead, dataKey, setId).claim(1, 0, ChunkFlag.data), data: text(CHUNK), choice: 'zstd', chunkSize: CHUNK, padStep: padStep(CHUNK, false) });
    expect(frame.byteOffset).toBe(0);
    expect(frame.buffer.byteLength).toBeLessThan(2 * CHUNK);
  });

  test('on worker threads, many at once, the frames are the ones made in-process', async () => {
    const rnd = seededRandom(3);
    const pool = chunkWork(2);
    const inProcess = chunkWork(0);
    try {
      const sealer = new ChunkSealer(nodeAead, dataKey, setId);
      const jobs = Array.from({ length: 24 }, (_, i) => ({
        ...sealer.claim(1, i, ChunkFlag.data),
        data: i % 3 ? text(1 + rnd.int(CHUNK)) : rnd.bytes(1 + rnd.int(CHUNK)),
        choice: 'zstd' as const,
        chunkSize: CHUNK,
        padStep: padStep(CHUNK, false),
      }));
      // The pool takes (transfers) the chunk's memory: give it copies and keep the originals.
      const threaded = await Promise.all(jobs.map((j) => pool.seal({ ...j, data: Buffer.from(j.data) })));
      for (const [i, j] of jobs.entries()) {
        const made = await inProcess.seal(j);
        expect(threaded[i]!.frame.equals(made.frame), `chunk ${i}`).toBe(true);
        // The chunk's memory comes back, as it was.
        expect(threaded[i]!.spent.equals(j.data), `chunk ${i}`).toBe(true);
      }
      // Built in lent memory full of an earlier frame's bytes: the same frames, nothing of the old bytes in them.
      const room = frameRoom(CHUNK, jobs[0]!);
      const lent = await Promise.all(jobs.map((j) => pool.seal({ ...j, data: Buffer.from(j.data) }, Buffer.allocUnsafeSlow(room).fill(0xaa))));
      for (const [i, j] of jobs.entries()) {
        expect(lent[i]!.frame.equals(threaded[i]!.frame), `chunk ${i}`).toBe(true);
        expect(lent[i]!.frame.buffer.byteLength, `chunk ${i}`).toBe(room);
      }
      const into = Buffer.allocUnsafeSlow(room).fill(0xaa);
      const here = await inProcess.seal(jobs[5]!, into);
      expect(here.frame.buffer).toBe(into.buffer);
      expect(here.frame.equals(threaded[5]!.frame)).toBe(true);
    } finally {
      await pool.close();
      await inProcess.close();
    }
  });
});
