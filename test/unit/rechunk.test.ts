// stream/rechunk: the boundary sweep of age's stream_test TestRoundTrip. For
// total lengths around multiples of the chunk size, fed in odd piece sizes,
// the output concatenates back to the input and every piece but the last is
// exactly one chunk.
import { describe, expect, test } from 'vitest';
import { rechunk } from '../../src/stream/rechunk.js';
import { fromPieces, seededRandom, slices } from './helpers.js';

async function run(input: Buffer, pieceSize: number, size: number, asViews = false): Promise<Buffer[]> {
  let pieces: Uint8Array[] = slices(input, pieceSize);
  if (asViews) {
    // Plain Uint8Array views into a larger buffer, at a non-zero offset.
    pieces = pieces.map((p) => {
      const backing = new Uint8Array(p.length + 10);
      backing.set(p, 5);
      return backing.subarray(5, 5 + p.length);
    });
  }
  const out: Buffer[] = [];
  for await (const c of rechunk(fromPieces(pieces), size)) out.push(Buffer.from(c));
  return out;
}

function check(input: Buffer, out: Buffer[], size: number): void {
  expect(Buffer.concat(out).equals(input)).toBe(true);
  expect(out.length).toBe(Math.ceil(input.length / size));
  out.forEach((c, i) => {
    if (i < out.length - 1) expect(c.length, `chunk ${i}`).toBe(size);
    else expect(c.length).toBeGreaterThan(0);
  });
}

describe.each([4096, 65536])('chunk size %i', (size) => {
  const totals = [0, 1, size - 1, size, size + 1, 2 * size - 1, 2 * size, 2 * size + 1, 3 * size + 7];
  const pieceSizes = [1, 7, 4095, size - 1, size, size + 1, 2 * size + 3];
  const rnd = seededRandom(size);
  const data = rnd.bytes(3 * size + 7);

  test.each(totals)('total %i, every piece size', async (total) => {
    const input = data.subarray(0, total);
    for (const piece of pieceSizes) {
      // Piece size 1 over 200 KiB is slow and adds nothing the small size does not.
      if (piece === 1 && total > 3 * 4096 + 7) continue;
      check(input, await run(input, piece, size), size);
    }
  });

  test('random piece sizes, Uint8Array views at an offset', async () => {
    for (let round = 0; round < 20; round++) {
      const total = rnd.int(3 * size + 8);
      const input = data.subarray(0, total);
      const pieces: Buffer[] = [];
      for (let at = 0; at < total; ) {
        const n = Math.min(total - at, 1 + rnd.int(size + size / 2));
        pieces.push(input.subarray(at, at + n));
        at += n;
      }
      const viewPieces = pieces.map((p) => {
        const b = Buffer.concat([Buffer.alloc(3), p]);
        return new Uint8Array(b.buffer, b.byteOffset + 3, p.length);
      });
      const out: Buffer[] = [];
      for await (const c of rechunk(fromPieces(viewPieces), size)) out.push(Buffer.from(c));
      check(input, out, size);
    }
    check(data, await run(data, 999, size, true), size);
  });
});

test('empty pieces in the input change nothing', async () => {
  const input = seededRandom(1).bytes(10000);
  const pieces: Uint8Array[] = [];
  for (const s of slices(input, 777)) pieces.push(Buffer.alloc(0), s, new Uint8Array(0));
  const out: Buffer[] = [];
  for await (const c of rechunk(fromPieces(pieces), 4096)) out.push(Buffer.from(c));
  check(input, out, 4096);
});

test('chunks stay intact while later input arrives', async () => {
  // The consumer may hold chunks (the compression window) while rechunk reads on.
  const input = seededRandom(2).bytes(5 * 4096 + 100);
  const held: Buffer[] = [];
  for await (const c of rechunk(fromPieces(slices(input, 1000)), 4096)) held.push(c);
  check(input, held, 4096);
});

test('a consumer may transfer a chunk away (detaching its memory) before asking for the next', async () => {
  // A piece of exactly one chunk is passed on as it is, and the worker pool transfers a chunk that owns its memory.
  const input = seededRandom(3).bytes(3 * 4096 + 100);
  const pieces = slices(input, 4096).map((p) => Buffer.from(new Uint8Array(p).buffer)); // each owns its memory
  const { port1, port2 } = new MessageChannel();
  const copies: Buffer[] = [];
  let transferred = 0;
  try {
    for await (const c of rechunk(fromPieces(pieces), 4096)) {
      copies.push(Buffer.from(c));
      if (c.byteOffset === 0 && c.byteLength === c.buffer.byteLength) {
        port1.postMessage(c, [c.buffer as ArrayBuffer]);
        transferred++;
      }
    }
  } finally {
    port1.close();
    port2.close();
  }
  expect(transferred).toBeGreaterThanOrEqual(3);
  check(input, copies, 4096);
});
