// stream/byte-reader: exact-length reads over pieces of any size, short reads
// only at the end, position and onBytes accounting, early close, reads into
// the caller's memory, and source buffers handed back only once spent.
import { describe, expect, test } from 'vitest';
import { ByteReader } from '../../src/stream/byte-reader.js';
import { fromPieces, seededRandom, slices } from './helpers.js';

describe('ByteReader', () => {
  const data = seededRandom(3).bytes(50_000);

  test.each([1, 3, 512, 4096, 50_000])('reads of every size over %i-byte pieces', async (piece) => {
    const rnd = seededRandom(piece);
    const seen: Buffer[] = [];
    const r = new ByteReader(fromPieces(slices(data, piece)), (b) => seen.push(Buffer.from(b)));
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < data.length) {
      const want = [0, 1, 2, 4, 17, 511, 512, 513, 5000][rnd.int(9)]!;
      if (rnd.int(4) === 0) {
        // A skip returns nothing but moves on exactly as a read would.
        const skipped = await r.skip(want);
        expect(skipped).toBe(Math.min(want, data.length - pos));
        out.push(data.subarray(pos, pos + skipped));
        pos += skipped;
        expect(r.position).toBe(pos);
        continue;
      }
      const got = await r.read(want);
      expect(got.length).toBe(Math.min(want, data.length - pos));
      out.push(Buffer.from(got));
      pos += got.length;
      expect(r.position).toBe(pos);
    }
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(await r.atEnd()).toBe(true);
    expect((await r.read(10)).length).toBe(0);
    expect(r.position).toBe(data.length);
    // onBytes saw every byte once, in order.
    expect(Buffer.concat(seen).equals(data)).toBe(true);
  });

  test('a skip past the end passes over what is left and says how much', async () => {
    const r = new ByteReader(fromPieces(slices(data.subarray(0, 100), 30)));
    expect(await r.skip(70)).toBe(70);
    expect(await r.skip(1000)).toBe(30);
    expect(r.position).toBe(100);
    expect(await r.atEnd()).toBe(true);
  });

  test('a read past the end returns what is left', async () => {
    const r = new ByteReader(fromPieces(slices(data.subarray(0, 100), 30)));
    expect((await r.read(60)).equals(data.subarray(0, 60))).toBe(true);
    const rest = await r.read(1000);
    expect(rest.equals(data.subarray(60, 100))).toBe(true);
    expect(await r.atEnd()).toBe(true);
  });

  test('atEnd does not consume', async () => {
    const r = new ByteReader(fromPieces(slices(data.subarray(0, 10), 3)));
    expect(await r.atEnd()).toBe(false);
    expect(r.position).toBe(0);
    expect((await r.read(10)).equals(data.subarray(0, 10))).toBe(true);
    expect(await r.atEnd()).toBe(true);
  });

  test('an empty source', async () => {
    const r = new ByteReader(fromPieces([]));
    expect(await r.atEnd()).toBe(true);
    expect((await r.read(5)).length).toBe(0);
  });

  test('Uint8Array pieces and empty pieces', async () => {
    const pieces = slices(data.subarray(0, 1000), 77).flatMap((p) => [new Uint8Array(0), new Uint8Array(p)]);
    const r = new ByteReader(fromPieces(pieces));
    expect((await r.read(1000)).equals(data.subarray(0, 1000))).toBe(true);
  });

  test('returned buffers stay valid after later reads', async () => {
    const r = new ByteReader(fromPieces(slices(data.subarray(0, 3000), 700)));
    const a = await r.read(1000);
    const copy = Buffer.from(a);
    await r.read(1500);
    await r.read(500);
    expect(a.equals(copy)).toBe(true);
  });

  test('close stops the source early', async () => {
    let closed = false;
    let pulled = 0;
    const source = (async function* () {
      try {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield Buffer.alloc(100, i);
        }
      } finally {
        closed = true;
      }
    })();
    const r = new ByteReader(source);
    await r.read(250);
    await r.close();
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(10);
  });

  test.each([1, 700, 50_000])('read into memory of the caller lands there, whole or spanning (%i-byte pieces)', async (piece) => {
    const r = new ByteReader(fromPieces(slices(data, piece)));
    const into = Buffer.alloc(2000, 0xaa);
    const a = await r.read(600, into);
    expect(a.buffer).toBe(into.buffer);
    expect(a.byteOffset).toBe(into.byteOffset);
    expect(a.equals(data.subarray(0, 600))).toBe(true);
    await r.read(data.length - 1000);
    const tail = await r.read(2000, into);
    expect(tail.buffer).toBe(into.buffer);
    expect(tail.equals(data.subarray(data.length - 400))).toBe(true);
  });

  test('with memory too small to hold the read, the bytes still come in memory of their own, never a view of the source', async () => {
    const source = Buffer.from(data);
    const r = new ByteReader(fromPieces([source]));
    const small = Buffer.alloc(100);
    const got = await r.read(600, small);
    expect(got.equals(data.subarray(0, 600))).toBe(true);
    expect(got.buffer).not.toBe(source.buffer);
    expect(got.buffer).not.toBe(small.buffer);
    expect(got.byteOffset === 0 && got.buffer.byteLength === 600).toBe(true);
  });

  test.each([1, 333, 4096])('hands back each source buffer once, as given, and only after the call following its last bytes (%i-byte pieces)', async (piece) => {
    const given = slices(data, piece).map((p) => Buffer.from(p));
    const released: Buffer[] = [];
    // Scribbles over what it gets back, as a source reusing the memory would:
    // a buffer handed back too early corrupts a view the reader just returned.
    const r = new ByteReader(fromPieces(given), undefined, (b) => {
      released.push(b);
      b.fill(0xee);
    });
    const rnd = seededRandom(piece + 7);
    const copies: Buffer[] = [];
    let pos = 0;
    while (pos < data.length) {
      const want = 1 + rnd.int(6000);
      const how = rnd.int(6);
      if (how === 2) {
        const skipped = await r.skip(want);
        copies.push(data.subarray(pos, pos + skipped));
        pos += skipped;
        continue;
      }
      if (how === 3 && r.skipNow(want)) {
        copies.push(data.subarray(pos, pos + want));
        pos += want;
        continue;
      }
      // The synchronous forms, when they can answer, must behave as the others do.
      const now = how === 4 ? r.readNow(want) : how === 5 ? r.readSomeNow(want) : undefined;
      const got = now ?? (how % 2 ? await r.read(want) : await r.readSome(want));
      copies.push(Buffer.from(got));
      pos += got.length;
    }
    expect(await r.atEnd()).toBe(true);
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    expect(released.length).toBe(given.length);
    released.forEach((b, i) => expect(b, `buffer ${i}`).toBe(given[i]));
  });
});
