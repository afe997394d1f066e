// restore/chunk-memory and decoding into lent memory (parallel/pool.ts): a
// chunk's frame and its plaintext move through buffers that come back for
// reuse, the one not needed at once, the plaintext only once every view of
// it handed out has been released; in and out of worker threads alike. A
// slow reader of a whole set sees every byte as written while the chunks
// after it are read and decoded into reused memory.
import { randomBytes } from 'node:crypto';
import { describe, expect, test, vi } from 'vitest';
// The compiled pool, so that jobs really run on worker threads.
import { chunkWork } from '../../dist/parallel/pool.js';
import { compressChunk } from '../../src/backup/compress.js';
import { nodeAead } from '../../src/crypto/aead.js';
import { Codec, maxSealedBytes } from '../../src/format/chunk.js';
import { ChunkMemory } from '../../src/restore/chunk-memory.js';
import { ByteReader } from '../../src/stream/byte-reader.js';
import { identityFromSeed } from '../../src/crypto/keys.js';
import { MemoryTarget } from '../helpers/memory-target.js';
import { seededRandom } from './helpers.js';
import { writeSet } from '../../dist/backup/run.js';
import { tarBytes } from '../../dist/restore/tar-source.js';
import { openSet } from '../../dist/set/open-set.js';
import { silentLogger } from '../../dist/log.js';
import { noProgress } from '../../dist/progress.js';

const CHUNK = 64 * 1024;

describe('ChunkMemory', () => {
  test('a plaintext is reused only when its last view is released', () => {
    const memory = new ChunkMemory(CHUNK, 4);
    const plain = memory.take();
    expect(plain.length).toBe(maxSealedBytes(CHUNK));
    memory.lend(plain.subarray(0, 10));
    memory.lend(plain.subarray(10, 20));
    memory.give(plain); // still lent: ignored
    memory.released(plain.subarray(0, 10));
    expect(memory.take().buffer).not.toBe(plain.buffer);
    memory.released(plain.subarray(10, 20));
    expect(memory.take().buffer).toBe(plain.buffer);
  });

  test('memory that is not its own is never kept', () => {
    const memory = new ChunkMemory(CHUNK, 4);
    const otherSize = Buffer.allocUnsafeSlow(CHUNK);
    const neverLent = Buffer.allocUnsafeSlow(maxSealedBytes(CHUNK));
    memory.give(otherSize);
    memory.released(neverLent);
    const fresh = memory.take();
    expect([otherSize.buffer, neverLent.buffer]).not.toContain(fresh.buffer);
    memory.give(fresh);
    expect(memory.take().buffer).toBe(fresh.buffer);
    expect(memory.take().buffer).not.toBe(fresh.buffer);
  });
});

describe('decoding into lent memory', () => {
  const frame = { key: randomBytes(32), nonce: randomBytes(12), aad: randomBytes(30) };
  const text = Buffer.from('a line of text that compresses well, and then some more of it\n'.repeat(2000)).subarray(0, CHUNK);
  const random = randomBytes(CHUNK);
  const cases: [string, Buffer, 'zstd' | 'deflate' | 'none', 'frame' | 'into' | 'own'][] = [
    ['zstd', text, 'zstd', 'into'],
    ['stored', random, 'none', 'frame'],
    ['deflate', text, 'deflate', 'own'],
  ];

  test.each([0, 2])('with %i workers: the plaintext lies where it should, and the other buffer comes back', async (workers) => {
    const work = chunkWork(workers);
    const memory = new ChunkMemory(CHUNK, 8);
    const size = maxSealedBytes(CHUNK);
    try {
      for (const [name, data, choice, where] of cases) {
        const packed = compressChunk(Buffer.from(data), choice);
        expect(packed.codec, name).toBe({ zstd: Codec.zstd, none: Codec.none, deflate: Codec.deflate }[choice]);
        const sealed = nodeAead.seal(frame.key, frame.nonce, Buffer.concat([Buffer.of(packed.codec), packed.bytes]), frame.aad);
        const frameMemory = memory.take();
        sealed.copy(frameMemory);
        const into = memory.take();
        const r = await work.decode(frame, frameMemory.subarray(0, sealed.length), CHUNK, into);
        if (!('plain' in r)) throw new Error(`${name}: ${r.failed}`);
        expect(r.plain.equals(data), name).toBe(true);
        // Both buffers were handed over: a worker's own until it answered.
        if (workers) expect([frameMemory.buffer.byteLength, into.buffer.byteLength], name).toEqual([0, 0]);
        expect(r.spare?.buffer.byteLength, name).toBe(size);
        if (where === 'own') {
          expect(r.plain.buffer.byteLength, name).not.toBe(size); // memory of its own, not lent
        } else {
          expect(r.plain.buffer.byteLength, name).toBe(size);
          expect(r.plain.byteOffset, name).toBe(where === 'frame' ? 1 : 0);
          expect(r.plain.buffer).not.toBe(r.spare!.buffer);
        }
        if (!workers) expect(r.spare!.buffer, name).toBe(where === 'into' ? frameMemory.buffer : into.buffer);
      }
    } finally {
      await work.close();
    }
  });

  test('a frame that fails authentication answers with no plaintext and no memory', async () => {
    const work = chunkWork(2);
    const memory = new ChunkMemory(CHUNK, 8);
    try {
      const sealed = nodeAead.seal(frame.key, frame.nonce, Buffer.concat([Buffer.of(Codec.none), random]), frame.aad);
      sealed[100]! ^= 1;
      const frameMemory = memory.take();
      sealed.copy(frameMemory);
      expect(await work.decode(frame, frameMemory.subarray(0, sealed.length), CHUNK, memory.take())).toEqual({ failed: 'authentication' });
    } finally {
      await work.close();
    }
  });
});

describe('a set read through chunk memory', () => {
  const chunkSize = 4096;
  const identity = identityFromSeed(randomBytes(32));
  const rnd = seededRandom(11);
  const tar = Buffer.concat(Array.from({ length: 40 }, (_, i) => (i % 2 ? rnd.bytes(3000 + i * 37) : Buffer.from(`line ${i} of text\n`.repeat(300 + i)))));

  test.each([0, 2])('with %i workers, every view holds its bytes until the next read, and memory goes round', async (workers) => {
    const target = new MemoryTarget();
    const r = await writeSet(
      { target, recipients: [identity.public], volumeSize: 64 * 1024, chunkSize, compression: 'zstd', pad: false, label: 'memory', workers, log: silentLogger, progress: noProgress },
      () => (async function* () {
        yield tar;
      })(),
    );
    const s = await openSet(target, r.set, { identities: [identity] });
    const work = chunkWork(workers);
    const memory = new ChunkMemory(chunkSize, 6);
    const allocate = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const source = tarBytes(s, [{ start: 0, end: tar.length }], work, memory);
      const reader = new ByteReader(source, undefined, (b) => memory.released(b));
      const pick = seededRandom(workers + 1);
      for (let at = 0; at < tar.length; ) {
        // Reads that span chunks keep the end of one while the next is pulled.
        const want = 1 + pick.int(3000);
        const piece = pick.int(2) ? await reader.read(want) : await reader.readSome(want);
        const copy = Buffer.from(piece);
        // Decoding ahead goes on meanwhile, into memory given back: none of it may be this piece's.
        await new Promise((resolve) => setTimeout(resolve, 1));
        expect(piece.equals(copy), `bytes at ${at} changed under the reader`).toBe(true);
        expect(copy.equals(tar.subarray(at, at + copy.length)), `bytes at ${at}`).toBe(true);
        at += copy.length;
      }
      expect(await reader.atEnd()).toBe(true);
      const chunks = Math.ceil(tar.length / chunkSize);
      expect(chunks).toBeGreaterThan(40);
      const made = allocate.mock.calls.filter(([size]) => size === maxSealedBytes(chunkSize)).length;
      expect(made, 'chunk buffers made').toBeGreaterThan(2);
      expect(made, 'chunk buffers made').toBeLessThan(chunks / 2);
    } finally {
      allocate.mockRestore();
      await work.close();
    }
  });
});
