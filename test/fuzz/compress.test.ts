// Fuzz target: decompressChunk (and payloadPlaintext, which undoes --pad
// first) with random bytes and with mutated deflate streams of text, random
// and repetitive data at every zlib level and strategy, including bombs
// (megabytes of one byte in a few kilobytes), against output limits around
// the true length.
//
// Properties: never throws, never returns more than the limit, and agrees
// with an independent reading: zlib's inflateRawSync without a limit must
// consume exactly the input and produce at most the limit for
// decompressChunk to return anything, and then the same bytes.
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { decompressChunk } from '../../src/backup/compress.js';
import { Codec } from '../../src/format/chunk.js';
import { padPayload, PADDED } from '../../src/format/padding.js';
import { payloadPlaintext } from '../../src/restore/payload.js';
import { defineFuzzTarget, fromJson, toJson } from './lib/harness.js';
import { applyEdits, editsArb } from './lib/mutate.js';
import type { Edit } from './lib/mutate.js';

interface Data {
  text: number;
  random: Uint8Array;
  run: { byte: number; count: number };
}

interface CompressCase {
  kind: 'random' | 'deflate' | 'padded';
  codec: number;
  random: Uint8Array;
  data: Data;
  level: number;
  strategy: number;
  edits: Edit[];
  /** The limit, relative to the data's true length (or absolute when `absolute`). */
  limit: { delta: number; absolute?: number };
}

const STRATEGIES = [constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED];

const arbitrary: fc.Arbitrary<CompressCase> = fc.record({
  kind: fc.constantFrom('random' as const, 'deflate' as const, 'deflate' as const, 'padded' as const),
  codec: fc.oneof(fc.constantFrom(Codec.none, Codec.deflate, Codec.deflate), fc.nat(255)),
  random: fc.uint8Array({ maxLength: 600 }),
  data: fc.record({
    text: fc.nat(3000),
    random: fc.uint8Array({ maxLength: 600 }),
    run: fc.record({ byte: fc.nat(255), count: fc.oneof({ weight: 4, arbitrary: fc.nat(5000) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 8 * 2 ** 20 }) }) }),
  }),
  level: fc.integer({ min: 0, max: 9 }),
  strategy: fc.constantFrom(...STRATEGIES),
  edits: fc.oneof(fc.constant<Edit[]>([]), editsArb({ maxEdits: 3, maxRandom: 64, maxRepeat: 3000 })),
  limit: fc.oneof(
    fc.record({ delta: fc.integer({ min: -2, max: 2 }) }),
    fc.record({ delta: fc.constant(0), absolute: fc.constantFrom(0, 1, 4096, 65536, 16 * 2 ** 20) }),
  ),
});

function dataOf(d: Data): Buffer {
  const text = Buffer.from(Array.from({ length: 200 }, (_, i) => `line ${i}: the quick brown fox\n`).join('')).subarray(0, d.text);
  return Buffer.concat([text, Buffer.from(d.random), Buffer.alloc(d.run.count, d.run.byte)]);
}

/** What an independent, unbounded inflate says the answer must be. */
function oracle(bytes: Buffer, limit: number): Buffer | undefined {
  try {
    const r = inflateRawSync(bytes, { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    return r.engine.bytesWritten === bytes.length && r.buffer.length <= limit ? r.buffer : undefined;
  } catch {
    return undefined;
  }
}

interface Prepared {
  c: CompressCase;
  codec: number;
  bytes: Buffer;
  limit: number;
}

async function prepare(c: CompressCase): Promise<Prepared> {
  const data = dataOf(c.data);
  const limit = c.limit.absolute ?? Math.max(0, data.length + c.limit.delta);
  if (c.kind === 'random') return { c, codec: c.codec, bytes: Buffer.from(c.random), limit };
  const packed = deflateRawSync(data, { level: c.level, strategy: c.strategy });
  const base = c.kind === 'padded' ? padPayload({ codec: Codec.deflate, bytes: packed }, Math.max(packed.length, 4096), Math.max(packed.length, 4096)).bytes : packed;
  const marks = [0, 1, 2, 3, 4, 5, base.length - 1, base.length, ...(c.kind === 'padded' ? [4 + packed.length] : [])];
  const bytes = applyEdits({ bytes: base, marks }, c.edits);
  return { c, codec: c.kind === 'padded' ? Codec.deflate | PADDED : Codec.deflate, bytes, limit: c.kind === 'padded' ? Math.max(packed.length, 4096) : limit };
}

async function run({ c, codec, bytes, limit }: Prepared): Promise<string> {
  if (c.kind === 'padded') {
    const plain = await payloadPlaintext(codec, bytes, limit);
    if (plain && plain.length > limit) throw new Error(`payloadPlaintext returned ${plain.length} bytes, over the chunk size ${limit}`);
    return `padded: ${plain ? 'decoded' : 'refused'}`;
  }
  const out = await decompressChunk(codec, bytes, limit);
  if (out && out.length > limit) throw new Error(`decompressChunk returned ${out.length} bytes, over the limit ${limit}`);
  const want = codec === Codec.none ? (bytes.length <= limit ? bytes : undefined) : codec === Codec.deflate ? oracle(bytes, limit) : undefined;
  if (want === undefined && out !== undefined) throw new Error(`decompressChunk accepted what zlib refuses (codec ${codec}, ${bytes.length} bytes, limit ${limit})`);
  if (want !== undefined && (out === undefined || !out.equals(want))) throw new Error(`decompressChunk ${out ? 'returned other bytes than' : 'refused'} a whole stream zlib reads (codec ${codec}, ${bytes.length} bytes, limit ${limit})`);
  return `${c.kind}, codec ${codec === Codec.none ? 'none' : codec === Codec.deflate ? 'deflate' : 'other'}: ${out ? 'decoded' : 'refused'}`;
}

defineFuzzTarget<CompressCase, Prepared>({
  name: 'compress',
  file: 'test/fuzz/compress.test.ts',
  arbitrary,
  prepare,
  run,
  boundedRuns: 250,
  seedExt: 'json',
  toSeed: toJson,
  fromSeed: (b) => fromJson<CompressCase>(b),
});
