// backup/compress: per-chunk deflate round trips, incompressible chunks are
// stored as they are, and decompressChunk refuses bombs, cut or padded
// streams, garbage and unknown codecs by returning undefined (never a throw);
// looksIncompressible tells random and compressed bytes from text and zeros.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { compressChunk, compressChunkInto, compressRoom, decompressChunk, looksIncompressible } from '../../src/backup/compress.js';
import { Codec, MAX_CHUNK_SIZE } from '../../src/format/chunk.js';
import { seededRandom } from './helpers.js';

function compressible(n: number, seed = 1): Buffer {
  const rnd = seededRandom(seed);
  const words = ['alpha ', 'beta ', 'gamma ', 'delta ', '\n', 'epsilon ', '0123456789 '];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = words[rnd.int(words.length)]!;
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

describe('compressChunk', () => {
  describe.each([
    ['deflate', Codec.deflate],
    ['zstd', Codec.zstd],
  ] as const)('%s', (choice, codec) => {
    test.each([1, 100, 4095, 4096, 4097, 65536, 1024 * 1024])('round trip of %i compressible bytes', async (n) => {
      const data = compressible(n);
      const c = await compressChunk(data, choice);
      if (n >= 100) {
        expect(c.codec).toBe(codec);
        expect(c.bytes.length).toBeLessThan(n);
      }
      const back = await decompressChunk(c.codec, c.bytes, n);
      expect(back?.equals(data)).toBe(true);
    });
  });

  test('an empty chunk', async () => {
    const c = await compressChunk(Buffer.alloc(0), 'deflate');
    expect(c.codec).toBe(Codec.none);
    expect(c.bytes.length).toBe(0);
    expect((await decompressChunk(c.codec, c.bytes, 4096))?.length).toBe(0);
  });

  test.each([1, 16, 4096, 65536])('incompressible data (%i bytes) is stored with codec none', async (n) => {
    const data = randomBytes(n);
    const c = await compressChunk(data, 'deflate');
    expect(c.codec).toBe(Codec.none);
    expect(c.bytes.equals(data)).toBe(true);
    expect((await decompressChunk(c.codec, c.bytes, n))?.equals(data)).toBe(true);
  });

  test("choice 'none' never compresses", async () => {
    const data = compressible(10000);
    const c = await compressChunk(data, 'none');
    expect(c.codec).toBe(Codec.none);
    expect(c.bytes.equals(data)).toBe(true);
  });

  test('a full-size chunk (16 MiB) round trips', async () => {
    const data = compressible(MAX_CHUNK_SIZE, 9);
    const c = await compressChunk(data, 'deflate');
    expect(c.codec).toBe(Codec.deflate);
    expect((await decompressChunk(c.codec, c.bytes, MAX_CHUNK_SIZE))?.equals(data)).toBe(true);
  });
});

describe('compressChunkInto', () => {
  test.each(['zstd', 'deflate', 'none'] as const)('%s: text compresses, random data is stored, within compressRoom', (choice) => {
    for (const [data, compresses] of [[compressible(70_000, 3), choice !== 'none'], [randomBytes(70_000), false], [randomBytes(1), false]] as const) {
      const room = compressRoom(data.length, choice);
      const dst = Buffer.alloc(room + 1, 0xee);
      const c = compressChunkInto(data, choice, dst.subarray(0, room));
      expect(dst[room]).toBe(0xee);
      if (compresses) {
        expect(c.codec).not.toBe(Codec.none);
        expect(c.length).toBeLessThan(data.length / 2);
        expect(decompressChunk(c.codec, dst.subarray(0, c.length), data.length)?.equals(data)).toBe(true);
      } else {
        expect(c).toEqual({ codec: Codec.none, length: data.length });
        expect(dst.subarray(0, c.length).equals(data)).toBe(true);
      }
    }
  });
});

describe('looksIncompressible', () => {
  test.each([64, 100, 256, 4096, 1 << 20])('random bytes (%i) look incompressible', (n) => {
    expect(looksIncompressible(seededRandom(n).bytes(n))).toBe(true);
  });

  test.each([4096, 65536])('so does text of %i bytes, gzipped', (n) => {
    expect(looksIncompressible(gzipSync(compressible(n, n)))).toBe(true);
  });

  test.each([64, 100, 256, 4096])('text (%i bytes) does not', (n) => {
    expect(looksIncompressible(compressible(n))).toBe(false);
    expect(looksIncompressible(Buffer.from(seededRandom(n).bytes(n).toString('hex')))).toBe(false);
    expect(looksIncompressible(Buffer.from(seededRandom(n).bytes(n).toString('base64')))).toBe(false);
  });

  test('nor do zeros, a program, or fewer than 64 bytes, even random ones', () => {
    expect(looksIncompressible(Buffer.alloc(4096))).toBe(false);
    expect(looksIncompressible(readFileSync(process.execPath).subarray(0, 4096))).toBe(false);
    expect(looksIncompressible(seededRandom(1).bytes(63))).toBe(false);
    expect(looksIncompressible(Buffer.alloc(0))).toBe(false);
  });
});

describe('decompressChunk refuses', () => {
  test('a deflate bomb beyond maxLength', async () => {
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100 * 1024);
    expect(await decompressChunk(Codec.deflate, bomb, 1024 * 1024)).toBeUndefined();
  });

  test('output of exactly maxLength passes, one byte more does not', async () => {
    expect((await decompressChunk(Codec.deflate, deflateRawSync(Buffer.alloc(4096, 7)), 4096))?.length).toBe(4096);
    expect(await decompressChunk(Codec.deflate, deflateRawSync(Buffer.alloc(4097, 7)), 4096)).toBeUndefined();
    expect((await decompressChunk(Codec.none, Buffer.alloc(4096), 4096))?.length).toBe(4096);
    expect(await decompressChunk(Codec.none, Buffer.alloc(4097), 4096)).toBeUndefined();
  });

  test('a stream cut short, at every length', async () => {
    const whole = deflateRawSync(compressible(5000));
    for (let len = 0; len < whole.length; len++) {
      expect(await decompressChunk(Codec.deflate, whole.subarray(0, len), 65536), `cut to ${len}`).toBeUndefined();
    }
  });

  test('bytes after the end of the stream', async () => {
    const whole = deflateRawSync(compressible(5000));
    expect(await decompressChunk(Codec.deflate, Buffer.concat([whole, Buffer.of(0)]), 65536)).toBeUndefined();
    expect(await decompressChunk(Codec.deflate, Buffer.concat([whole, whole]), 65536)).toBeUndefined();
  });

  test('garbage', async () => {
    const rnd = seededRandom(11);
    for (let i = 0; i < 500; i++) {
      const junk = rnd.bytes(1 + rnd.int(300));
      expect(await decompressChunk(Codec.deflate, junk, 65536), `junk ${junk.toString('hex')}`).toBeUndefined();
    }
    expect(await decompressChunk(Codec.deflate, Buffer.from([0xff, 0xff, 0xff]), 65536)).toBeUndefined();
  });

  test('unknown codecs', async () => {
    for (const codec of [2, 3, 127, 255]) expect(await decompressChunk(codec, deflateRawSync(Buffer.from('x')), 100)).toBeUndefined();
  });
});
