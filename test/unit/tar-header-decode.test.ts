/**
 * Numeric header fields are parsed from the bytes, without a string per
 * field; the oracle is what the decoder did before: the field as latin1
 * text given to parseInt with radix 8, after the same space and NUL
 * trimming. Any byte a crafted archive may hold must read the same.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeHeader } from '../../src/format/tar-header-decode.js';
import { encodeTarHeader } from '../../src/format/tar-header.js';

const MODE = { offset: 100, length: 8 };
const SIZE = { offset: 124, length: 12 };

function oracle(field: Buffer): number {
  let start = 0;
  while (start < field.length && field[start] === 0x20) start++;
  let end = field.indexOf(0x20, start);
  if (end === -1) end = field.length;
  while (start < end && field[start] === 0) start++;
  if (start === end) return 0;
  return parseInt(field.toString('latin1', start, end), 8);
}

/** A valid header block with `bytes` in place of one numeric field, its checksum recomputed. */
function blockWith(at: { offset: number; length: number }, bytes: number[]): Buffer {
  const block = encodeTarHeader({ name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
  block.fill(0, at.offset, at.offset + at.length);
  Buffer.from(bytes).copy(block, at.offset);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

// Digits, the bytes parseInt skips or reads as a sign, and bytes that stop a number.
const interesting = fc.constantFrom(0x00, 0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0xa0, 0x85, 0x2b, 0x2d, 0x30, 0x31, 0x37, 0x38, 0x39, 0x61, 0x78, 0x7f);

describe('numeric header fields', () => {
  test.each([
    ['plain octal, NUL-ended', [...Buffer.from('0000644'), 0], 0o644],
    ['space-led and space-ended', [...Buffer.from('  644 ')], 0o644],
    ['empty', [], 0],
    ['only spaces', [...Buffer.from('       ')], 0],
    ['a tab before the digits', [0x09, ...Buffer.from('17')], 0o17],
    ['a no-break space before the digits (after a space: a high first bit means base-256)', [0x20, 0xa0, ...Buffer.from('17')], 0o17],
    ['a minus sign', [...Buffer.from('-17')], -0o17],
    ['a plus sign', [...Buffer.from('+17')], 0o17],
    ['stops at the first non-octal digit', [...Buffer.from('1781')], 0o17],
    ['no digit at all', [...Buffer.from('x1')], NaN],
    ['a sign and no digit', [...Buffer.from('-')], NaN],
  ])('%s', (_name, bytes, want) => {
    expect(decodeHeader(blockWith(MODE, bytes))!.mode).toBe(want);
    expect(oracle(Buffer.from(bytes.concat(Array(8).fill(0)).slice(0, 8)))).toBe(want);
  });

  test.each([
    ['base-256, positive', [0x80, 0, 0, 0, 0, 0, 0x01, 0x02], 0x0102],
    ['base-256, negative, as tar-stream reads it', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], -1],
    ['base-256 with a bad lead byte', [0x81, 0, 0, 0, 0, 0, 0, 1], null],
  ])('%s', (_name, bytes, want) => {
    expect(decodeHeader(blockWith(MODE, bytes))!.mode).toBe(want);
  });

  test('every field of random bytes reads as parseInt reads its text', () => {
    fc.assert(
      fc.property(fc.array(interesting, { maxLength: 8 }), fc.array(interesting, { maxLength: 12 }), (mode, size) => {
        // A high bit in the first byte means base-256, decoded elsewhere.
        fc.pre(mode[0] === undefined || mode[0] < 0x80);
        fc.pre(size[0] === undefined || size[0] < 0x80);
        const h = decodeHeader(blockWith(SIZE, size));
        expect(h!.size).toBe(oracle(Buffer.from([...size, ...Array(12).fill(0)].slice(0, 12))));
        const m = decodeHeader(blockWith(MODE, mode));
        expect(m!.mode).toBe(oracle(Buffer.from([...mode, ...Array(8).fill(0)].slice(0, 8))));
      }),
      { numRuns: 2000 },
    );
  });
});
