/**
 * A tiny raw DEFLATE (RFC 1951) encoder for the vector generator: one final
 * block with the fixed Huffman codes, literals, and runs of a repeated byte
 * as matches at distance 1. Its output depends on nothing but its input, so
 * committed vectors never change with the zlib build (node's level-1 output
 * is not promised to be stable across versions or CPUs). coffer's decoder
 * inflates any valid raw DEFLATE stream; this only has to be one.
 */

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const MAX_MATCH = 258;

class BitWriter {
  private readonly out: number[] = [];
  private acc = 0;
  private n = 0;

  /** Writes `count` bits of `value`, least significant first (header fields, extra bits). */
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.acc |= ((value >>> i) & 1) << this.n;
      if (++this.n === 8) {
        this.out.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }

  /** Writes a Huffman code, most significant bit first. */
  code(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.bits((value >>> i) & 1, 1);
  }

  finish(): Buffer {
    if (this.n) this.out.push(this.acc);
    return Buffer.from(this.out);
  }
}

/** The fixed literal/length code of RFC 1951 section 3.2.6. */
function symbol(w: BitWriter, s: number): void {
  if (s < 144) w.code(0x30 + s, 8);
  else if (s < 256) w.code(0x190 + s - 144, 9);
  else if (s < 280) w.code(s - 256, 7);
  else w.code(0xc0 + s - 280, 8);
}

export function deflateRawFixed(data: Uint8Array): Buffer {
  const w = new BitWriter();
  w.bits(1, 1); // BFINAL
  w.bits(1, 2); // BTYPE 01: fixed Huffman codes
  let i = 0;
  while (i < data.length) {
    let run = 0;
    if (i > 0) while (run < MAX_MATCH && i + run < data.length && data[i + run] === data[i - 1]) run++;
    if (run >= 3) {
      let c = LENGTH_BASE.length - 1;
      while (LENGTH_BASE[c]! > run) c--;
      symbol(w, 257 + c);
      w.bits(run - LENGTH_BASE[c]!, LENGTH_EXTRA[c]!);
      w.code(0, 5); // distance code 0: distance 1
      i += run;
    } else {
      symbol(w, data[i]!);
      i++;
    }
  }
  symbol(w, 256); // end of block
  return w.finish();
}
