// Per-chunk compressor speeds and ratios, one core, as coffer uses them:
//   node bench/codecs.mjs [TEXT_FILE]
// TEXT_FILE defaults to Python sources found on the machine (a stand-in for logs and configuration).
import { randomBytes } from 'node:crypto';
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { brotliCompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';
import { decompress as fzstdDecompress } from 'fzstd';

const CHUNK = 1 << 20;
const SIZE = 64 << 20;
const text = process.argv[2]
  ? readFileSync(process.argv[2]).subarray(0, SIZE)
  : execSync("find /usr/lib -name '*.py' -size +2k 2>/dev/null | head -4000 | xargs cat 2>/dev/null | head -c 67108864", { maxBuffer: 1 << 27, shell: '/bin/bash' });
const random = randomBytes(SIZE);

function chunks(data) {
  const out = [];
  for (let o = 0; o < data.length; o += CHUNK) out.push(data.subarray(o, o + CHUNK));
  return out;
}

function time(fn) {
  const t = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t) / 1e9];
}

const codecs = {
  'zstd 1': [(b) => zstdCompress(b, { compressionLevel: 1 }), (b) => zstdDecompress(b)],
  'zstd 3': [(b) => zstdCompress(b, { compressionLevel: 3 }), (b) => zstdDecompress(b)],
  'zstd -1': [(b) => zstdCompress(b, { compressionLevel: -1 }), (b) => zstdDecompress(b)],
  'zstd 1, fzstd decoder': [(b) => zstdCompress(b, { compressionLevel: 1 }), (b) => fzstdDecompress(b)],
  'deflate 1': [(b) => deflateRawSync(b, { level: 1 }), (b) => inflateRawSync(b)],
  'brotli 1': [(b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } }), null],
};

console.log(`| codec | input | compress MB/s | ratio | decompress MB/s |\n| --- | --- | ---: | ---: | ---: |`);
for (const [input, data] of [['text', text], ['random', random]]) {
  for (const [name, [pack, unpack]] of Object.entries(codecs)) {
    const [packed, ts] = time(() => chunks(data).map(pack));
    const bytes = packed.reduce((n, b) => n + b.length, 0);
    const td = unpack ? time(() => packed.forEach(unpack))[1] : undefined;
    const mbs = (s) => (data.length / s / 1e6).toFixed(0);
    console.log(`| ${name} | ${input} (${(data.length / 1e6).toFixed(0)} MB) | ${mbs(ts)} | ${(data.length / bytes).toFixed(2)} | ${td ? mbs(td) : ''} |`);
  }
}
