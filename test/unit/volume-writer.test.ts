// backup/volume-writer: each data chunk's volume and index are decided before
// it is sealed, by a rule that depends only on the frames before it, so the
// same chunks make the same volumes whatever order their seals finish in and
// however many are in flight; no volume is larger than the volume size; the
// indexes follow FORMAT.md; a failed seal fails the set; and sets with tiny
// volumes, sealed on worker threads, read back.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { sealFrame, ChunkSealer } from '../../src/backup/encrypt.js';
import { headerBytes, minimumVolumeSize, VolumeWriter } from '../../src/backup/volume-writer.js';
import { nodeAead } from '../../src/crypto/aead.js';
import { headerMacKey } from '../../src/crypto/kdf.js';
import { wrapForRecipient, identityFromSeed } from '../../src/crypto/keys.js';
import { ChunkFlag, END_FRAME_BYTES, FRAME_PREFIX_BYTES, maxFrameBytes } from '../../src/format/chunk.js';
import { newSetId, setIdText } from '../../src/format/set-id.js';
import { volumeHeaderLength } from '../../src/format/volume-header.js';
import type { Stanza } from '../../src/format/volume-header.js';
import type { SealParams } from '../../src/backup/encrypt.js';
import { ChunkOpener } from '../../src/restore/decrypt.js';
import { MemoryTarget } from '../helpers/memory-target.js';
import { seededRandom } from './helpers.js';
// The compiled writer: only there do worker threads exist (npm test compiles first).
import { writeSet } from '../../dist/backup/run.js';
import { chunkWork } from '../../dist/parallel/pool.js';
import { tarBytes } from '../../dist/restore/tar-source.js';
import { openSet } from '../../dist/set/open-set.js';
import { silentLogger } from '../../dist/log.js';
import { noProgress } from '../../dist/progress.js';

const CHUNK = 4096;
const dataKey = randomBytes(32);
const setId = newSetId();
const set = setIdText(setId);
const identity = identityFromSeed(randomBytes(32));
const stanzas: Stanza[] = [wrapForRecipient(dataKey, setId, identity.public.x25519)];
const HEADER = headerBytes(stanzas, setId, CHUNK);
const MAX_FRAME = maxFrameBytes(CHUNK);

interface Payload {
  codec: number;
  bytes: Buffer;
}

/** Payloads of every size from 1 byte to a whole padded chunk. */
function payloads(n: number, seed: number): Payload[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, () => ({ codec: 0x80, bytes: rnd.bytes(1 + rnd.int(CHUNK + 4)) }));
}

/** Resolves after a random number of macrotask turns, so seals finish out of order. */
function jitter(rnd: ReturnType<typeof seededRandom>): Promise<void> {
  const turns = rnd.int(8);
  return new Promise((resolve) => {
    let n = 0;
    const step = () => (n++ >= turns ? resolve() : setImmediate(step));
    step();
  });
}

/** The volumes a VolumeWriter makes of these payloads, with seals that finish in an order set by `seed`. */
async function write(chunks: Payload[], volumeSize: number, inFlight: number, seed: number): Promise<Buffer[]> {
  const target = new MemoryTarget();
  const writer = new VolumeWriter({ target, setName: set, setId, chunkSize: CHUNK, stanzas, volumeSize, inFlight, sealer: new ChunkSealer(nodeAead, dataKey, setId), headerMacKey: headerMacKey(dataKey, setId) });
  const rnd = seededRandom(seed);
  for (const c of chunks) {
    await writer.add(async (params) => {
      await jitter(rnd);
      return sealFrame(nodeAead, params, c.codec, c.bytes);
    });
  }
  const records = await writer.finish();
  return records.map((r) => target.objects.get(`${set}/${r.name}`)!);
}

/** Each frame of a volume, prefix included. */
function frames(volume: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = volumeHeaderLength(volume); at < volume.length; ) {
    const end = at + FRAME_PREFIX_BYTES + volume.readUInt32BE(at);
    out.push(volume.subarray(at, end));
    at = end;
  }
  return out;
}

describe('VolumeWriter', () => {
  test.each([
    ['the minimum', 0],
    ['room for one more largest frame', MAX_FRAME],
    ['odd', 3 * MAX_FRAME + 777],
    ['large', 40 * MAX_FRAME],
  ])('volume size %s: the same volumes whatever order seals finish in and however many are in flight', async (_name, extra) => {
    const volumeSize = minimumVolumeSize(stanzas, setId, CHUNK) + extra;
    const chunks = payloads(60, extra + 1);
    const reference = await write(chunks, volumeSize, 1, 0);
    for (const [inFlight, seed] of [[2, 1], [4, 2], [7, 3], [64, 4]] as const) {
      const volumes = await write(chunks, volumeSize, inFlight, seed);
      expect(volumes.length, `${inFlight} in flight`).toBe(reference.length);
      volumes.forEach((v, i) => expect(v.equals(reference[i]!), `${inFlight} in flight, volume ${i + 1}`).toBe(true));
    }
  });

  test('follows the rule: a chunk goes in iff a largest frame and an end frame still fit; indexes as FORMAT.md numbers them', async () => {
    const volumeSize = minimumVolumeSize(stanzas, setId, CHUNK) + 2 * MAX_FRAME + 100;
    const chunks = payloads(50, 7);
    const volumes = await write(chunks, volumeSize, 5, 9);
    expect(volumes.length).toBeGreaterThan(3);
    const opener = new ChunkOpener(nodeAead, dataKey, setId);
    let g = 0;
    let t = 0;
    volumes.forEach((v, i) => {
      expect(v.length).toBeLessThanOrEqual(volumeSize);
      expect(v.readBigUInt64BE(34)).toBe(BigInt(g)); // the header's first chunk
      let size = HEADER;
      const fs = frames(v);
      for (const f of fs.slice(0, -1)) {
        expect(size + MAX_FRAME + END_FRAME_BYTES, `volume ${i + 1}, chunk ${g}`).toBeLessThanOrEqual(volumeSize);
        const opened = opener.open(i + 1, g++, f.subarray(FRAME_PREFIX_BYTES))!;
        expect(opened).toMatchObject({ flag: ChunkFlag.data, codec: chunks[t]!.codec });
        expect(opened.data.equals(chunks[t++]!.bytes)).toBe(true);
        size += f.length;
      }
      const last = i === volumes.length - 1;
      expect(opener.open(i + 1, g++, fs.at(-1)!.subarray(FRAME_PREFIX_BYTES))?.flag).toBe(last ? ChunkFlag.endOfSet : ChunkFlag.endOfVolume);
      // Closed only when the next chunk did not fit.
      if (!last) expect(size + MAX_FRAME + END_FRAME_BYTES).toBeGreaterThan(volumeSize);
    });
    expect(t).toBe(chunks.length);
  });

  test('an empty set is one volume holding only its end-of-set chunk', async () => {
    const [v, extra] = await write([], 1 << 20, 4, 0);
    expect(extra).toBeUndefined();
    expect(frames(v!).map((f) => f.length)).toEqual([END_FRAME_BYTES]);
  });

  test('a seal that fails fails the set, and abort leaves no volume behind', async () => {
    const target = new MemoryTarget();
    const writer = new VolumeWriter({ target, setName: set, setId, chunkSize: CHUNK, stanzas, volumeSize: 1 << 20, inFlight: 3, sealer: new ChunkSealer(nodeAead, dataKey, setId), headerMacKey: headerMacKey(dataKey, setId) });
    const ok = async (p: SealParams) => sealFrame(nodeAead, p, 0, Buffer.from('x'));
    await writer.add(ok);
    await writer.add(async () => {
      throw new Error('worker died');
    });
    await expect((async () => {
      for (let i = 0; i < 5; i++) await writer.add(ok);
      await writer.finish();
    })()).rejects.toThrow('worker died');
    writer.abort(new Error('backup failed'));
    await new Promise((resolve) => setImmediate(resolve));
    expect([...target.objects.keys()]).toEqual([]);
  });

  test('refuses a frame larger than any chunk makes, which could overflow the volume', async () => {
    const target = new MemoryTarget();
    const writer = new VolumeWriter({ target, setName: set, setId, chunkSize: CHUNK, stanzas, volumeSize: 1 << 20, sealer: new ChunkSealer(nodeAead, dataKey, setId), headerMacKey: headerMacKey(dataKey, setId) });
    await expect(writer.add(async (p) => sealFrame(nodeAead, p, 0x80, Buffer.alloc(CHUNK + 5)))).rejects.toThrow(/larger than any/);
    writer.abort(new Error('stop'));
  });
});

describe('writeSet with tiny volumes', () => {
  const rnd = seededRandom(5);
  // Text and random stretches, so frames vary in size; not a multiple of the chunk size.
  const tar = Buffer.concat(Array.from({ length: 12 }, (_, i) => (i % 2 ? rnd.bytes(9000 + i) : Buffer.from(`line ${i} of text\n`.repeat(700)))));

  async function backup(workers: number, pad: boolean) {
    const target = new MemoryTarget();
    const r = await writeSet(
      { target, recipients: [identity.public], volumeSize: 6000, chunkSize: CHUNK, compression: 'zstd', pad, label: 'tiny', workers, log: silentLogger, progress: noProgress },
      () => (async function* () {
        for (let at = 0; at < tar.length; at += 1500) yield tar.subarray(at, at + 1500);
      })(),
    );
    return { target, r };
  }

  test.each([false, true])('round trip on worker threads, the same layout as in-process (--pad %s)', async (pad) => {
    const [threads, inProcess] = [await backup(2, pad), await backup(0, pad)];
    expect(threads.r.volumes.length).toBeGreaterThan(5);
    expect(threads.r.volumes.map((v) => v.size)).toEqual(inProcess.r.volumes.map((v) => v.size));
    for (const v of threads.r.volumes) expect(v.size).toBeLessThanOrEqual(6000);
    const work = chunkWork(2);
    try {
      const s = await openSet(threads.target, threads.r.set, { identities: [identity] });
      const parts: Buffer[] = [];
      for await (const b of tarBytes(s, [{ start: 0, end: tar.length }], work)) parts.push(Buffer.from(b));
      expect(Buffer.concat(parts).equals(tar)).toBe(true);
    } finally {
      await work.close();
    }
  });
});
