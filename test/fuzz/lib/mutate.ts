/**
 * Byte-level edits of a valid input, as plain data (so a failing case can be
 * kept as a seed and replayed against a freshly built fixture). Positions
 * are either "near landmark i" (a field, a frame length, a tag, a header
 * block: what a format parser branches on) or anywhere. Landmarks come from
 * the target, which knows the structure of what it mutates.
 */
import fc from 'fast-check';

export type Pos = { mark: number; delta: number } | { any: number };

export type Edit =
  | { op: 'flip'; at: Pos; bit: number }
  | { op: 'set'; at: Pos; byte: number }
  /** Writes a big-endian u32 (a length field, an index). */
  | { op: 'u32'; at: Pos; value: number }
  /** Adds to the big-endian u32 there (off-by-one lengths and indexes). */
  | { op: 'u32add'; at: Pos; delta: number }
  | { op: 'cut'; at: Pos }
  | { op: 'insert'; at: Pos; bytes: Uint8Array }
  | { op: 'delete'; from: Pos; to: Pos }
  /** Copies [from, to) to `at`: a duplicated frame, header or entry. */
  | { op: 'copy'; from: Pos; to: Pos; at: Pos }
  /** Keeps [0, at), then continues with a donor's bytes from `from` on. */
  | { op: 'splice'; donor: number; at: Pos; from: Pos }
  /** Replaces everything with random bytes. */
  | { op: 'random'; bytes: Uint8Array }
  /** Inserts a run of one byte (a long line, a long name, a bomb that compresses well). */
  | { op: 'repeat'; at: Pos; byte: number; count: number };

export interface Piece {
  bytes: Buffer;
  marks: number[];
}

export function resolvePos(p: Pos, piece: Piece): number {
  const len = piece.bytes.length;
  if ('any' in p) return p.any % (len + 1);
  if (!piece.marks.length) return 0;
  return Math.max(0, Math.min(len, piece.marks[p.mark % piece.marks.length]! + p.delta));
}

/** Applies edits in order. Landmarks stay those of the original (they drift after a cut or an insert, which is fine). */
export function applyEdits(base: Piece, edits: readonly Edit[], donors: readonly Piece[] = []): Buffer {
  let b = Buffer.from(base.bytes);
  const here = (): Piece => ({ bytes: b, marks: base.marks });
  for (const e of edits) {
    switch (e.op) {
      case 'flip': {
        const at = resolvePos(e.at, here());
        if (at < b.length) b[at]! ^= 1 << (e.bit & 7);
        break;
      }
      case 'set': {
        const at = resolvePos(e.at, here());
        if (at < b.length) b[at] = e.byte & 0xff;
        break;
      }
      case 'u32':
      case 'u32add': {
        const at = resolvePos(e.at, here());
        if (at + 4 > b.length) break;
        const v = e.op === 'u32' ? e.value : b.readUInt32BE(at) + e.delta;
        b.writeUInt32BE(((v % 2 ** 32) + 2 ** 32) % 2 ** 32, at);
        break;
      }
      case 'cut':
        b = b.subarray(0, resolvePos(e.at, here()));
        break;
      case 'insert': {
        const at = resolvePos(e.at, here());
        b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
        break;
      }
      case 'delete': {
        const [from, to] = [resolvePos(e.from, here()), resolvePos(e.to, here())].sort((x, y) => x - y) as [number, number];
        b = Buffer.concat([b.subarray(0, from), b.subarray(to)]);
        break;
      }
      case 'copy': {
        const [from, to] = [resolvePos(e.from, here()), resolvePos(e.to, here())].sort((x, y) => x - y) as [number, number];
        const at = resolvePos(e.at, here());
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, to), b.subarray(at)]);
        break;
      }
      case 'splice': {
        const donor = donors.length ? donors[e.donor % donors.length]! : base;
        b = Buffer.concat([b.subarray(0, resolvePos(e.at, here())), donor.bytes.subarray(resolvePos(e.from, donor))]);
        break;
      }
      case 'random':
        b = Buffer.from(e.bytes);
        break;
      case 'repeat': {
        const at = resolvePos(e.at, here());
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(e.count, e.byte & 0xff), b.subarray(at)]);
        break;
      }
    }
  }
  return b;
}

/** Lengths and counts a parser is likely to mishandle: zero, tiny, at and around limits, huge. */
export const U32_VALUES = [0, 1, 2, 15, 16, 17, 18, 20, 21, 511, 512, 513, 4095, 4096, 4097, 4116, 4117, 4118, 65535, 65536, 65537, 2 ** 24, 2 ** 24 + 21, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];

export interface EditOptions {
  maxEdits?: number;
  /** Extra u32 values worth writing for this format. */
  u32Values?: number[];
  /** Most random bytes for 'random' (default 256). */
  maxRandom?: number;
  /** Whether to offer 'splice' (only where donors exist). */
  splice?: boolean;
  /** Longest 'repeat' run (0: no 'repeat'). */
  maxRepeat?: number;
}

export function posArb(): fc.Arbitrary<Pos> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ mark: fc.nat(4095), delta: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -4, max: 4 }) }) }) },
    { weight: 1, arbitrary: fc.record({ any: fc.nat() }) },
  );
}

export function editArb(o: EditOptions = {}): fc.Arbitrary<Edit> {
  const pos = posArb();
  const values = [...U32_VALUES, ...(o.u32Values ?? [])];
  const options: fc.WeightedArbitrary<Edit>[] = [
    { weight: 6, arbitrary: fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.nat(7) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at: pos, byte: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff), fc.nat(255)) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('u32' as const), at: pos, value: fc.oneof(fc.constantFrom(...values), fc.nat()) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('u32add' as const), at: pos, delta: fc.integer({ min: -20, max: 20 }) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('cut' as const), at: pos }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), from: pos, to: pos }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('copy' as const), from: pos, to: pos, at: pos }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: o.maxRandom ?? 256 }) }) },
  ];
  if (o.maxRepeat) {
    const count = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 600 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: o.maxRepeat }) });
    options.push({ weight: 1, arbitrary: fc.record({ op: fc.constant('repeat' as const), at: pos, byte: fc.oneof(fc.constantFrom(0x61, 0x22, 0x5c, 0x0a, 0x00), fc.nat(255)), count }) });
  }
  if (o.splice) options.push({ weight: 2, arbitrary: fc.record({ op: fc.constant('splice' as const), donor: fc.nat(63), at: pos, from: pos }) });
  return fc.oneof(...options);
}

export function editsArb(o: EditOptions = {}): fc.Arbitrary<Edit[]> {
  return fc.array(editArb(o), { minLength: 1, maxLength: o.maxEdits ?? 4 });
}
