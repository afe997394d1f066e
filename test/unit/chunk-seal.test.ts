// backup/encrypt + restore/decrypt: chunk frames seal and open under the
// volume key with the chunk index as nonce and the role in the AAD; a frame
// moved to another index, volume, set or role fails; nonces are never reused.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { ChunkSealer } from '../../src/backup/encrypt.js';
import { nodeAead } from '../../src/crypto/aead.js';
import { nobleAead } from '../../src/crypto/noble-aead.js';
import { chunkAad, chunkNonce, ChunkFlag, Codec, END_FRAME_BYTES, FRAME_PREFIX_BYTES } from '../../src/format/chunk.js';
import { newSetId } from '../../src/format/set-id.js';
import { ChunkOpener } from '../../src/restore/decrypt.js';

const body = (frame: Buffer) => {
  expect(frame.readUInt32BE(0)).toBe(frame.length - FRAME_PREFIX_BYTES);
  return frame.subarray(FRAME_PREFIX_BYTES);
};

describe('chunk frames', () => {
  const dataKey = randomBytes(32);
  const setId = newSetId();

  test('data and end chunks round trip, node seals and noble opens and back', () => {
    for (const [sealAead, openAead] of [[nodeAead, nobleAead], [nobleAead, nodeAead]] as const) {
      const sealer = new ChunkSealer(sealAead, dataKey, setId);
      const opener = new ChunkOpener(openAead, dataKey, setId);
      const data = randomBytes(5000);
      const f0 = sealer.seal(1, 0, ChunkFlag.data, Codec.deflate, data);
      const f1 = sealer.seal(1, 1, ChunkFlag.endOfVolume, Codec.none, Buffer.alloc(0));
      const f2 = sealer.seal(2, 2, ChunkFlag.endOfSet, Codec.none, Buffer.alloc(0));
      expect(f1.length).toBe(END_FRAME_BYTES);
      expect(opener.open(1, 0, body(f0))).toEqual({ flag: ChunkFlag.data, codec: Codec.deflate, data });
      expect(opener.open(1, 1, body(f1))).toMatchObject({ flag: ChunkFlag.endOfVolume, codec: Codec.none });
      expect(opener.open(2, 2, body(f2))).toMatchObject({ flag: ChunkFlag.endOfSet });
    }
  });

  test('a frame moved to another index, volume or set, or under another key, fails', () => {
    const sealer = new ChunkSealer(nodeAead, dataKey, setId);
    const f = body(sealer.seal(3, 10, ChunkFlag.data, Codec.none, randomBytes(100)));
    const opener = new ChunkOpener(nodeAead, dataKey, setId);
    expect(opener.open(3, 10, f)).toBeDefined();
    expect(opener.open(3, 11, f)).toBeUndefined();
    expect(opener.open(3, 9, f)).toBeUndefined();
    expect(opener.open(4, 10, f)).toBeUndefined();
    expect(opener.open(0, 10, f)).toBeUndefined();
    expect(new ChunkOpener(nodeAead, dataKey, newSetId()).open(3, 10, f)).toBeUndefined();
    expect(new ChunkOpener(nodeAead, randomBytes(32), setId).open(3, 10, f)).toBeUndefined();
  });

  test('the role is authenticated: an empty data chunk is not an end chunk, nor end-of-volume end-of-set', () => {
    const sealer = new ChunkSealer(nodeAead, dataKey, setId);
    const opener = new ChunkOpener(nodeAead, dataKey, setId);
    // An empty data chunk has the length of an end chunk but cannot pass as one.
    const emptyData = body(sealer.seal(1, 0, ChunkFlag.data, Codec.none, Buffer.alloc(0)));
    expect(opener.open(1, 0, emptyData)).toBeUndefined();
    const eov = body(sealer.seal(1, 1, ChunkFlag.endOfVolume, Codec.none, Buffer.alloc(0)));
    expect(opener.open(1, 1, eov)?.flag).toBe(ChunkFlag.endOfVolume);
    const eos = body(sealer.seal(1, 2, ChunkFlag.endOfSet, Codec.none, Buffer.alloc(0)));
    expect(opener.open(1, 2, eos)?.flag).toBe(ChunkFlag.endOfSet);
    expect(opener.open(1, 1, eos)).toBeUndefined();
  });

  test('a flipped bit anywhere in the sealed body fails', () => {
    const sealer = new ChunkSealer(nodeAead, dataKey, setId);
    const opener = new ChunkOpener(nodeAead, dataKey, setId);
    const f = body(sealer.seal(1, 0, ChunkFlag.data, Codec.none, randomBytes(64)));
    for (let bit = 0; bit < f.length * 8; bit++) {
      const g = Buffer.from(f);
      g[bit >> 3]! ^= 1 << (bit & 7);
      expect(opener.open(1, 0, g), `bit ${bit}`).toBeUndefined();
    }
  });

  test('claiming a pair for a seal elsewhere (a worker) is refused the same way as sealing it', () => {
    const sealer = new ChunkSealer(nodeAead, dataKey, setId);
    const p = sealer.claim(1, 0, ChunkFlag.data);
    expect(p.nonce.equals(chunkNonce(0)) && p.aad.equals(chunkAad(setId, 1, 0, ChunkFlag.data))).toBe(true);
    expect(() => sealer.claim(1, 0, ChunkFlag.data)).toThrow(/nonce 0/);
    expect(() => sealer.seal(1, 0, ChunkFlag.endOfVolume, Codec.none, Buffer.alloc(0))).toThrow(/nonce 0/);
    sealer.seal(1, 1, ChunkFlag.endOfVolume, Codec.none, Buffer.alloc(0));
    expect(() => sealer.claim(1, 1, ChunkFlag.data)).toThrow(/nonce 1/);
    sealer.claim(2, 2, ChunkFlag.data);
    expect(() => sealer.claim(1, 3, ChunkFlag.data)).toThrow(/volume 1/);
  });

  test('the sealer refuses to reuse a nonce or return to an earlier volume', () => {
    const sealer = new ChunkSealer(nodeAead, dataKey, setId);
    sealer.seal(1, 5, ChunkFlag.data, Codec.none, Buffer.from('a'));
    expect(() => sealer.seal(1, 5, ChunkFlag.data, Codec.none, Buffer.from('b'))).toThrow(/nonce/);
    expect(() => sealer.seal(1, 4, ChunkFlag.data, Codec.none, Buffer.from('b'))).toThrow(/nonce/);
    sealer.seal(2, 6, ChunkFlag.data, Codec.none, Buffer.from('c'));
    expect(() => sealer.seal(1, 7, ChunkFlag.data, Codec.none, Buffer.from('d'))).toThrow(/volume 1/);
  });
});
