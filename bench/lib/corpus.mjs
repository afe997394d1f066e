// @ts-check
/**
 * The benchmark corpora, built once and kept in a cache folder named by their
 * parameters, so every round and every later run reads the same files.
 *
 * Guarantees: a corpus folder holds `corpus.json` only once every file in it
 * was written completely; a build that was interrupted is finished by
 * rewriting files in place (never by deleting the tree: on this kind of
 * machine creating many files right after deleting many is several times
 * slower, which would skew the runs that follow). The digest in
 * `corpus.json` covers every path, size and byte, so two machines can tell
 * they measured the same data. Not guaranteed: that nobody edited the files
 * after the build (`--check-corpus` rehashes them).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { readdir, readFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { GENERATOR_VERSION, between, generate, prng, seedOf } from './gen.mjs';

const GiB = 1024 ** 3;

/**
 * @typedef {{ path: string, size: number, kind: 'random' | 'text' }} FileSpec
 * @typedef {{ kind: 'large' | 'small', key: string, dir: string, tree: string, files: FileSpec[], dirs: string[], bytes: number, params: Record<string, unknown> }} Corpus
 */

/**
 * Large files: `count` files totalling `gib` GiB, alternately random and text.
 * @param {{ cache: string, gib: number, count: number, seed: string }} o
 * @returns {Corpus}
 */
export function largeCorpus({ cache, gib, count, seed }) {
  const total = Math.round(gib * GiB);
  const each = Math.floor(total / count);
  /** @type {FileSpec[]} */
  const files = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 2 === 0 ? 'random' : 'text';
    const size = i === count - 1 ? total - each * (count - 1) : each;
    files.push({ path: `file-${String(i).padStart(4, '0')}.${kind === 'random' ? 'bin' : 'log'}`, size, kind });
  }
  const key = `large-g${GENERATOR_VERSION}-${seed}-${fmtGiB(gib)}GiB-${count}f`;
  const params = { kind: 'large', generator: GENERATOR_VERSION, seed, bytes: total, files: count };
  return finish({ kind: 'large', key, cache, files, dirs: [], bytes: total, params });
}

/**
 * Many small files: `count` files of 1-16 KiB in about count/330 folders (two
 * levels), each file text or random with equal odds.
 * @param {{ cache: string, count: number, seed: string }} o
 * @returns {Corpus}
 */
export function smallCorpus({ cache, count, seed }) {
  const rnd = prng(seedOf(`coffer-bench small v${GENERATOR_VERSION}\0${seed}`));
  const nDirs = Math.max(1, Math.round(count / 330));
  const top = Math.max(1, Math.round(Math.sqrt(nDirs / 2)));
  const topDirs = Array.from({ length: top }, (_, t) => `g${String(t).padStart(2, '0')}`);
  const leaves = Array.from({ length: nDirs }, (_, d) => `${topDirs[d % top]}/d${String(d).padStart(4, '0')}`);
  const dirs = [...topDirs, ...leaves];
  /** @type {FileSpec[]} */
  const files = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const kind = rnd() % 2 === 0 ? 'text' : 'random';
    const size = between(rnd, 1024, 16384);
    const leaf = leaves[Math.floor((i * nDirs) / count)];
    files.push({ path: `${leaf}/f${String(i).padStart(6, '0')}.${kind === 'random' ? 'bin' : 'txt'}`, size, kind });
    bytes += size;
  }
  const key = `small-g${GENERATOR_VERSION}-${seed}-${count}f`;
  const params = { kind: 'small', generator: GENERATOR_VERSION, seed, bytes, files: count, folders: dirs.length };
  return finish({ kind: 'small', key, cache, files, dirs, bytes, params });
}

/** @param {{ kind: 'large' | 'small', key: string, cache: string, files: FileSpec[], dirs: string[], bytes: number, params: Record<string, unknown> }} c */
function finish(c) {
  const dir = join(c.cache, c.key);
  return { kind: c.kind, key: c.key, dir, tree: join(dir, 'tree'), files: c.files, dirs: c.dirs, bytes: c.bytes, params: c.params };
}

function fmtGiB(/** @type {number} */ g) {
  return String(+g.toFixed(4)).replace('.', 'p');
}

/**
 * Builds the corpus unless its folder is already complete. Returns its
 * metadata (digest, build seconds).
 * @param {Corpus} c
 * @param {(msg: string) => void} say
 * @returns {{ digest: string, built: boolean, seconds: number }}
 */
export function ensureCorpus(c, say) {
  const marker = join(c.dir, 'corpus.json');
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, 'utf8'));
    if (m.files === c.files.length && m.bytes === c.bytes) return { digest: m.digest, built: false, seconds: m.seconds };
    throw new Error(`${marker} does not match the corpus parameters; move the folder away (the generator changed without a version bump?)`);
  }
  const t0 = performance.now();
  say(`building corpus ${c.key} (${c.files.length} files, ${(c.bytes / 1e6).toFixed(0)} MB) in ${c.dir} ...`);
  mkdirSync(c.tree, { recursive: true });
  for (const d of c.dirs) mkdirSync(join(c.tree, d), { recursive: true });
  const digest = createHash('sha256');
  let done = 0, lastSay = performance.now();
  for (const f of c.files) {
    digest.update(`${f.path}\0${f.size}\0`);
    const fd = openSync(join(c.tree, f.path), 'w');
    try {
      generate(f.kind, `${c.params.seed}/${c.kind}/${f.path}`, f.size, (b) => {
        digest.update(b);
        let off = 0;
        while (off < b.length) off += writeSync(fd, b, off, b.length - off);
      });
    } finally {
      closeSync(fd);
    }
    done++;
    if (performance.now() - lastSay > 10_000) {
      lastSay = performance.now();
      say(`  ${done}/${c.files.length} files`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const meta = { ...c.params, digest: digest.digest('hex'), seconds: +seconds.toFixed(1), builtAt: new Date().toISOString() };
  writeFileSync(`${marker}.tmp`, JSON.stringify(meta, null, 2) + '\n');
  renameSync(`${marker}.tmp`, marker);
  say(`  built in ${seconds.toFixed(0)} s`);
  return { digest: meta.digest, built: true, seconds };
}

/**
 * Reads every file once so the timed runs start from a warm page cache.
 * @param {Corpus} c
 * @returns {number} seconds
 */
export function warm(c) {
  const t0 = performance.now();
  const buf = Buffer.allocUnsafe(8 << 20);
  for (const f of c.files) {
    const fd = openSync(join(c.tree, f.path), 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
  return (performance.now() - t0) / 1000;
}

/** SHA-256 of a file, hex. */
export async function hashFile(/** @type {string} */ p) {
  return createHash('sha256').update(await readFile(p)).digest('hex');
}

/**
 * Files to compare after each restore: every file of a corpus of at most
 * `n`, otherwise `n` spread evenly over it (first and last included).
 * @param {Corpus} c
 * @param {number} n
 */
export function sampleOf(c, n) {
  if (c.files.length <= n) return c.files;
  /** @type {FileSpec[]} */
  const out = [];
  for (let i = 0; i < n; i++) out.push(c.files[Math.round((i * (c.files.length - 1)) / (n - 1))]);
  return out;
}

/**
 * Counts regular files and their bytes under `dir` (no symlinks followed).
 * @param {string} dir
 * @returns {Promise<{ files: number, bytes: number }>}
 */
export async function census(dir) {
  let files = 0, bytes = 0;
  /** @param {string} d */
  const walk = async (d) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) { files++; bytes += (await lstat(p)).size; }
    }
  };
  await walk(dir);
  return { files, bytes };
}
