/**
 * The committed vectors are exactly what generator.ts makes. With
 * COFFER_WRITE_VECTORS=1 it (re)writes test/vectors/data/ first; otherwise
 * any difference, extra or missing file fails, so the format (or an encoder)
 * cannot drift without the vectors being regenerated in the same commit.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { END_OF_ARCHIVE, encodeTarHeader, paddingAfter } from '../../src/format/tar-header.js';
import { untar } from '../../src/restore/untar.js';
import { generateVectors, MULTI_ENTRIES, SMALL_ENTRIES } from './generator.js';
import { deflateRawFixed } from './lib/deflate.js';
import { ustar } from './lib/ustar.js';
import type { TarEntry } from './lib/ustar.js';

const DATA = fileURLToPath(new URL('./data/', import.meta.url));

describe('vector generator', () => {
  it('committed vectors are byte-identical to a fresh generation', async () => {
    const files = await generateVectors();
    if (process.env.COFFER_WRITE_VECTORS === '1') {
      await rm(DATA, { recursive: true, force: true });
      await mkdir(DATA, { recursive: true });
      for (const [name, bytes] of files) await writeFile(join(DATA, name), bytes);
    }
    const committed = (await readdir(DATA)).sort();
    expect(committed, 'vector files (run with COFFER_WRITE_VECTORS=1 to regenerate)').toEqual([...files.keys()].sort());
    for (const [name, bytes] of files) {
      const same = (await readFile(join(DATA, name))).equals(bytes);
      expect(same, `${name} differs from the generator's output (run with COFFER_WRITE_VECTORS=1 to regenerate)`).toBe(true);
    }
  });

  it('generates the same bytes twice (no hidden randomness)', async () => {
    const [x, y] = [await generateVectors(), await generateVectors()];
    for (const [name, bytes] of x) expect(y.get(name)!.equals(bytes), name).toBe(true);
  });

  it('the fixed-Huffman deflate round-trips through zlib', () => {
    const cases = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(10_000), Buffer.from('abcabcabc'.repeat(100)), createHash('sha256').update('x').digest()];
    for (let n = 255; n <= 262; n++) cases.push(Buffer.concat([Buffer.of(7), Buffer.alloc(n, 9)]));
    for (const c of cases) expect(inflateRawSync(deflateRawFixed(c)).equals(c)).toBe(true);
  });

  it("the hand-written tar is what coffer's header encoder writes for the same headers (as src/backup/tar.ts sets them)", () => {
    for (const entries of [SMALL_ENTRIES, MULTI_ENTRIES]) expect(cofferTar(entries).equals(ustar(entries))).toBe(true);
  });

  it('payload tars extract with coffer\'s untar', async () => {
    for (const entries of [SMALL_ENTRIES, MULTI_ENTRIES]) {
      const seen: { path: string; size: number }[] = [];
      for await (const e of untar((async function* () { yield ustar(entries); })())) {
        let size = 0;
        for await (const b of e.body as AsyncIterable<Buffer>) size += b.length;
        seen.push({ path: e.path, size });
      }
      expect(seen).toEqual(entries.map((e) => ({ path: e.path, size: e.data?.length ?? 0 })));
    }
  });
});

function cofferTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    parts.push(encodeTarHeader({
      name: e.type === 'directory' ? `${e.path}/` : e.path,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: Math.floor(e.mtimeMs / 1000),
      size: data.length,
      uname: e.uname,
      gname: e.gname,
      ...(e.mtimeMs % 1000 !== 0 ? { pax: { mtime: (e.mtimeMs / 1000).toFixed(3) } } : {}),
    }), data, Buffer.alloc(paddingAfter(data.length)));
  }
  return Buffer.concat([...parts, END_OF_ARCHIVE]);
}
