import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { zstdCompressBound, zstdCompressInto, zstdContentSize, zstdDecompress, zstdDecompressPortable } from '../../src/compress/zstd.js';
// The compiled pool: only there does the worker script exist (npm test compiles first).
import { chunkWork } from '../../dist/parallel/pool.js';
import { Codec } from '../../src/format/chunk.js';
import { nodeAead } from '../../src/crypto/aead.js';
import { compressChunk } from '../../src/backup/compress.js';

const text = Buffer.from('the quick brown fox jumps over the lazy dog, again and again; '.repeat(4000));

function zstdCompress(data: Buffer, level: number): Buffer {
  const out = Buffer.alloc(zstdCompressBound(data.length));
  return out.subarray(0, zstdCompressInto(out, data, level));
}

describe.each([
  ['native', zstdDecompress],
  ['portable (fzstd)', zstdDecompressPortable],
] as const)('zstd decoding, %s', (_name, decode) => {
  test('round trip, exact size allowed', () => {
    const frame = zstdCompress(text, 1);
    expect(zstdContentSize(frame)).toBe(text.length);
    expect(decode(frame, text.length)?.equals(text)).toBe(true);
  });

  test('a frame declaring more than the chunk size is refused before allocating', () => {
    const frame = zstdCompress(text, 1);
    expect(decode(frame, text.length - 1)).toBeUndefined();
  });

  test('truncated frames, trailing bytes, a second frame and garbage are refused', () => {
    const frame = zstdCompress(text, 1);
    for (const cut of [0, 1, 5, 6, frame.length >> 1, frame.length - 1]) expect(decode(frame.subarray(0, cut), text.length)).toBeUndefined();
    expect(decode(Buffer.concat([frame, Buffer.of(0)]), text.length * 2)).toBeUndefined();
    expect(decode(Buffer.concat([frame, frame]), text.length * 2)).toBeUndefined();
    expect(decode(randomBytes(1000), 1 << 20)).toBeUndefined();
  });

  test('a frame whose header lies about its size is refused', () => {
    const frame = Buffer.from(zstdCompress(text, 1));
    // Single-segment frames keep the size after the descriptor; make it one byte smaller.
    const descriptor = frame[4]!;
    const at = 5 + (((descriptor >> 5) & 1) ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]!;
    const fcsBytes = [(descriptor >> 5) & 1, 2, 4, 8][descriptor >> 6]!;
    if (fcsBytes === 2) frame.writeUInt16LE(frame.readUInt16LE(at) - 1, at);
    else if (fcsBytes === 4) frame.writeUInt32LE(frame.readUInt32LE(at) - 1, at);
    else frame[at] = frame[at]! - 1;
    const r = decode(frame, text.length);
    // libzstd refuses it; fzstd stops at the declared size. Either way nothing beyond the declared
    // size is produced, and the chunk-length checks after decoding catch the short chunk.
    if (decode === zstdDecompress) expect(r).toBeUndefined();
    else expect(r === undefined || r.length === text.length - 1).toBe(true);
  });
});

describe('the chunk worker pool', () => {
  const frame = { key: randomBytes(32), nonce: randomBytes(12), aad: randomBytes(30) };
  test('decodes the same as in-process, in and out of worker threads', async () => {
    const inProcess = chunkWork(0);
    const pool = chunkWork(2);
    try {
      expect(pool.parallelism).toBe(2);
      const data = Buffer.concat([text, randomBytes(1000)]);
      const b = compressChunk(Buffer.from(data), 'zstd');
      expect(b.codec).toBe(Codec.zstd);
      const sealed = (codec: number, bytes: Buffer) => nodeAead.seal(frame.key, frame.nonce, Buffer.concat([Buffer.of(codec), bytes]), frame.aad);
      const plainOf = async (work: typeof pool, s: Buffer, size: number) => {
        const r = await work.decode(frame, s, size);
        return 'plain' in r ? r.plain : r.failed;
      };
      expect((await plainOf(pool, sealed(b.codec, b.bytes), data.length)) as Buffer).toEqual(data);
      expect(await plainOf(pool, sealed(Codec.zstd, Buffer.from('not zstd at all')), data.length)).toBe('payload');
      const tampered = sealed(b.codec, b.bytes);
      tampered[10]! ^= 1;
      expect(await plainOf(pool, tampered, data.length)).toBe('authentication');
      const many = Array.from({ length: 20 }, (_, i) => compressChunk(Buffer.from(text.subarray(i)), 'deflate'));
      const plains = await Promise.all(many.map((c) => plainOf(pool, sealed(c.codec, c.bytes), text.length)));
      for (const [i, c] of many.entries()) {
        expect(plains[i] as Buffer).toEqual(text.subarray(i));
        expect((await plainOf(inProcess, sealed(c.codec, c.bytes), text.length)) as Buffer).toEqual(text.subarray(i));
      }
    } finally {
      await pool.close();
      await inProcess.close();
    }
  });
});
