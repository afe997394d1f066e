/**
 * Leak tests: what someone holding the volumes and the manifest of a set, but
 * no key, can read from their bytes (docs/THREAT-MODEL.md, "A thief holding
 * one volume" and "A holder of the manifest"). Everything runs the real
 * bin/coffer.
 *
 * 1. A tree full of distinctive names, paths, an owner with its own user and
 *    group name, a symlink target, highly compressible and random contents,
 *    backed up (with the host name set to a distinctive one) into several
 *    volumes; then every byte of every volume and of the manifest is searched
 *    for each distinctive string as UTF-8, UTF-16LE/BE, base64 and base64url
 *    (all three alignments), hex, and compressed (deflate, zlib, gzip at
 *    levels 1 and 6); for the set's own plaintext (tar headers, samples of
 *    the tar stream, each tar chunk as coffer would compress it, catalog
 *    lines), decrypted in-process; and every offset where a DEFLATE, zlib or
 *    gzip stream could start is inflated (bounded) and searched too.
 * 2. Two trees with the same number of files and total size but different
 *    file size distributions give volumes of identical size structure.
 * 3. --pad makes a compressible and a random tree of the same layout
 *    identical in size structure; without it they differ (what compression
 *    leaks).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, lutimes, mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { constants as Z, deflateRawSync, deflateSync, gzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, json, keygen, ok, onlySet, readManifestHeader, REPO, tempDir, useTempDirs, volumeFrames } from '../helpers/cli.js';
import type { Keys, Run } from '../helpers/cli.js';
import { expectSameTree, isRoot, restoredPath } from '../helpers/tree.js';
import type * as CatalogModule from '../../src/format/catalog.js';
import type * as IdentityModule from '../../src/crypto/identity-file.js';
import type * as OpenSetModule from '../../src/set/open-set.js';
import type * as CatalogReaderModule from '../../src/restore/catalog-reader.js';
import type * as TarSourceModule from '../../src/restore/tar-source.js';
import type * as PoolModule from '../../src/parallel/pool.js';
import type * as TargetModule from '../../src/targets/target.js';

useTempDirs();

/** The code bin/coffer runs, for decrypting a set in-process. */
const dist = <T>(path: string): Promise<T> => import(pathToFileURL(join(REPO, 'dist', path)).href) as Promise<T>;

const CHUNK = 64 * 1024;
const VOLUME = '200K';
/** A padded data chunk seals to the codec byte, the inner length, the chunk and the tag. */
const PADDED_SEALED = 1 + 4 + CHUNK + 16;
const END_SEALED = 17;

let dir: string;
let recipient: Keys;
let signer: Keys;

beforeAll(async () => {
  dir = await tempDir('leak');
  recipient = await keygen(dir, 'recipient');
  signer = await keygen(dir, 'signer');
});

// ---------------------------------------------------------------------------
// Running coffer, optionally under a host name of our choosing

/** Whether this machine lets root give a child its own host name (a UTS namespace). */
const canSetHostName = isRoot && spawnSync('unshare', ['--uts', 'true'], { stdio: 'ignore' }).status === 0;

/** Runs bin/coffer with a clean environment; with `host`, inside a UTS namespace whose host name is `host`. */
function runCoffer(args: string[], host?: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COFFER_') && v !== undefined) env[k] = v;
  const [cmd, argv] = host
    ? ['unshare', ['--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', host, process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), args }));
  });
}

async function backup(source: string, target: string, o: { extra?: string[]; host?: string; volumeSize?: string } = {}): Promise<{ set: string; setDir: string }> {
  const args = ['backup', source, '--to', target, '--recipient', recipient.pub, '--chunk-size', '64K', '--volume-size', o.volumeSize ?? VOLUME, '--label', 'nightly', '--json', ...(o.extra ?? [])];
  const r = await runCoffer(args, o.host);
  if (r.code !== 0) expect.fail(`backup failed with exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  expect(json(r).ok).toBe(true);
  const set = await onlySet(target);
  return { set, setDir: join(target, set) };
}

// ---------------------------------------------------------------------------
// The scanner

interface Needle {
  what: string;
  bytes: Buffer;
}

interface Hit {
  file: string;
  offset: number;
  what: string;
}

/** The base64 characters that depend only on `bytes` when `shift` (0, 1 or 2, mod 3) bytes come before them. */
function base64Middle(bytes: Buffer, shift: number, alphabet: 'base64' | 'base64url'): string {
  const s = Buffer.concat([Buffer.alloc(shift), bytes]).toString(alphabet);
  return s.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6));
}

/** `text` in every encoding searched for, each as its own needle. */
function encodings(label: string, text: string): Needle[] {
  const utf8 = Buffer.from(text, 'utf8');
  const hex = utf8.toString('hex');
  const out: Needle[] = [
    { what: `${label} as UTF-8`, bytes: utf8 },
    { what: `${label} as UTF-16LE`, bytes: Buffer.from(text, 'utf16le') },
    { what: `${label} as UTF-16BE`, bytes: Buffer.from(text, 'utf16le').swap16() },
    { what: `${label} as hex`, bytes: Buffer.from(hex, 'latin1') },
    { what: `${label} as HEX`, bytes: Buffer.from(hex.toUpperCase(), 'latin1') },
  ];
  for (const alphabet of ['base64', 'base64url'] as const) {
    for (const shift of [0, 1, 2]) out.push({ what: `${label} as ${alphabet} (alignment ${shift})`, bytes: Buffer.from(base64Middle(utf8, shift, alphabet), 'latin1') });
  }
  return dedupe(out);
}

/** `data` deflated, zlib-wrapped and gzipped at levels 1 and 6: the first 32 bytes of each stream's compressed data. */
function compressedForms(label: string, data: Buffer): Needle[] {
  const out: Needle[] = [];
  for (const level of [1, 6]) {
    out.push({ what: `${label} as raw deflate (level ${level})`, bytes: deflateRawSync(data, { level }).subarray(0, 32) });
    out.push({ what: `${label} as zlib (level ${level})`, bytes: deflateSync(data, { level }).subarray(0, 32) });
    // The 10-byte gzip header is the same for any content: search what follows it.
    out.push({ what: `${label} as gzip (level ${level})`, bytes: gzipSync(data, { level }).subarray(10, 42) });
  }
  return dedupe(out);
}

function dedupe(needles: Needle[]): Needle[] {
  const seen = new Set<string>();
  return needles.filter((n) => {
    const key = n.bytes.toString('hex');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Every occurrence of every needle in every file (at most 5 per needle and file). */
function scan(files: Map<string, Buffer>, needles: Needle[]): Hit[] {
  const hits: Hit[] = [];
  for (const n of needles) {
    if (n.bytes.length < 8) throw new Error(`needle too short to mean anything: ${n.what}`);
    for (const [file, bytes] of files) {
      let found = 0;
      for (let at = bytes.indexOf(n.bytes); at !== -1 && found < 5; at = bytes.indexOf(n.bytes, at + 1), found++) hits.push({ file, offset: at, what: n.what });
    }
  }
  return hits;
}

const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const MIN_MARKER = 8;

/**
 * Whether a raw DEFLATE stream starting at `at` could inflate to at least
 * MIN_MARKER bytes. A cheap filter in front of zlib (which costs tens of
 * microseconds a try): it answers false only where zlib would fail or stop
 * first: an invalid block type; a stored block whose length check fails; a
 * dynamic block with too many codes or a code length code that is not
 * complete (zlib's "invalid code lengths set"); a fixed block whose first 64
 * symbols hold an invalid code or a distance before the start of the output,
 * or that ends the stream with fewer than MIN_MARKER bytes.
 */
function mayInflate(b: Buffer, at: number): boolean {
  let pos = at;
  let bit = 0;
  const bits = (n: number): number => {
    let v = 0;
    for (let k = 0; k < n; k++) {
      if (pos >= b.length) throw new RangeError('end of input');
      v |= ((b[pos]! >> bit) & 1) << k;
      if (++bit === 8) {
        bit = 0;
        pos++;
      }
    }
    return v;
  };
  const huffman = (n: number, code = 0): number => {
    for (let k = 0; k < n; k++) code = (code << 1) | bits(1);
    return code;
  };
  try {
    const final = bits(1);
    const type = bits(2);
    if (type === 3) return false;
    if (type === 0) {
      if (pos + 5 > b.length) return false;
      const len = b.readUInt16LE(pos + 1);
      return (len ^ 0xffff) === b.readUInt16LE(pos + 3);
    }
    if (type === 2) {
      const hlit = bits(5) + 257;
      const hdist = bits(5) + 1;
      const hclen = bits(4) + 4;
      if (hlit > 286 || hdist > 30) return false;
      const count = new Array<number>(8).fill(0);
      for (let k = 0; k < hclen; k++) count[bits(3)]!++;
      let left = 1;
      for (let len = 1; len <= 7; len++) {
        left = left * 2 - count[len]!;
        if (left < 0) return false;
      }
      return left === 0;
    }
    let out = 0;
    for (let n = 0; n < 64; n++) {
      let code = huffman(7);
      let sym: number;
      if (code <= 23) sym = 256 + code;
      else {
        code = huffman(1, code);
        if (code >= 48 && code <= 191) sym = code - 48;
        else if (code >= 192 && code <= 199) sym = 280 + code - 192;
        else sym = 144 + huffman(1, code) - 400;
      }
      if (sym < 256) {
        out++;
        continue;
      }
      if (sym === 256) return final ? out >= MIN_MARKER : true;
      if (sym > 285) return false;
      const length = LBASE[sym - 257]! + bits(LEXT[sym - 257]!);
      const d = huffman(5);
      if (d > 29 || DBASE[d]! + bits(DEXT[d]!) > out) return false;
      out += length;
    }
    return true;
  } catch {
    return false;
  }
}

/** Where the DEFLATE data of a gzip member starting at `at` begins (after its optional fields), or undefined. */
function gzipData(b: Buffer, at: number): number | undefined {
  const flags = b[at + 3] ?? 0xff;
  if (flags & 0xe0) return undefined;
  let p = at + 10;
  if (flags & 4) {
    if (p + 2 > b.length) return undefined;
    p += 2 + b.readUInt16LE(p);
  }
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    const nul = b.indexOf(0, p);
    if (nul === -1) return undefined;
    p = nul + 1;
  }
  if (flags & 2) p += 2;
  return p < b.length ? p : undefined;
}

const INFLATE_INPUT = 80 * 1024;
const INFLATE_OUTPUT = 4 * 1024 * 1024;

/**
 * Every place a gzip, zlib or raw DEFLATE stream could start in each file is
 * inflated (at most INFLATE_INPUT bytes in, INFLATE_OUTPUT out), and what
 * comes out is searched for the markers in UTF-8.
 */
function inflateScan(files: Map<string, Buffer>, markers: Needle[]): { hits: Hit[]; tries: number } {
  const hits: Hit[] = [];
  let tries = 0;
  const opts = { finishFlush: Z.Z_SYNC_FLUSH, maxOutputLength: INFLATE_OUTPUT };
  const look = (file: string, offset: number, form: string, inflate: () => Buffer) => {
    tries++;
    let out: Buffer;
    try {
      out = inflate();
    } catch {
      return;
    }
    for (const m of markers) if (out.includes(m.bytes)) hits.push({ file, offset, what: `${m.what} inside a ${form} stream` });
  };
  for (const [file, b] of files) {
    for (let i = 0; i < b.length; i++) {
      const input = () => b.subarray(i, i + INFLATE_INPUT);
      if (b[i] === 0x1f && b[i + 1] === 0x8b && b[i + 2] === 8) {
        // gunzip fails on anything after a member that is not another member: inflate the member's data instead.
        const data = gzipData(b, i);
        if (data !== undefined) look(file, i, 'gzip', () => inflateRawSync(b.subarray(data, data + INFLATE_INPUT), opts));
      }
      const cmf = b[i]!;
      const flg = b[i + 1] ?? 0;
      if ((cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0 && !(flg & 0x20) && mayInflate(b, i + 2)) look(file, i, 'zlib', () => inflateSync(input(), opts));
      if (mayInflate(b, i)) look(file, i, 'raw deflate', () => inflateRawSync(input(), opts));
    }
  }
  return { hits, tries };
}

function describeHits(hits: Hit[], files: Map<string, Buffer>): string {
  return hits
    .slice(0, 40)
    .map((h) => {
      const b = files.get(h.file)!;
      const around = b.subarray(Math.max(0, h.offset - 8), h.offset + 40);
      return `${h.file} @ ${h.offset}: ${h.what}\n    ${around.toString('hex')}\n    ${JSON.stringify(around.toString('latin1'))}`;
    })
    .join('\n');
}

function expectNoHits(hits: Hit[], files: Map<string, Buffer>, what: string): void {
  if (hits.length) expect.fail(`${hits.length} ${what} found in volumes or manifest:\n${describeHits(hits, files)}`);
}

/** The volumes and the manifest of a set, by file name. */
async function setFiles(setDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(setDir)).sort()) files.set(name, await readFile(join(setDir, name)));
  return files;
}

// ---------------------------------------------------------------------------
// Tar headers of the decrypted stream

interface TarBlock {
  name: string;
  bytes: Buffer;
}

function octal(field: Buffer): number {
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').trim();
  return text ? parseInt(text, 8) : 0;
}

/** The header blocks and PAX records of a tar stream, each with the entry it belongs to. */
function tarHeaders(tar: Buffer): { headers: TarBlock[]; pax: TarBlock[] } {
  const headers: TarBlock[] = [];
  const pax: TarBlock[] = [];
  for (let at = 0; at + 512 <= tar.length; ) {
    const block = tar.subarray(at, at + 512);
    if (block.every((x) => x === 0)) break;
    const size = octal(block.subarray(124, 136));
    const type = String.fromCharCode(block[156]!);
    const name = block.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    headers.push({ name: `${name} (type ${type}) at ${at}`, bytes: block });
    if (type === 'x' || type === 'g') pax.push({ name: `PAX records at ${at + 512}`, bytes: tar.subarray(at + 512, at + 512 + size) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return { headers, pax };
}

/** Whether 32 bytes are varied enough that finding them by chance is out of the question. */
const varied = (b: Buffer) => new Set(b).size >= 8;

// ---------------------------------------------------------------------------
// Owners with names: a user and group added to the system for the backup only

const OWNER = { user: 'quillon-ledger-usr', group: 'quillon-ledger-grp', uid: 48613, gid: 48679 };

/** Adds OWNER to /etc/passwd and /etc/group while `fn` runs, and removes exactly those lines afterwards. */
async function withOwnerNames<T>(fn: () => Promise<T>): Promise<T> {
  const files = [
    { path: '/etc/passwd', line: `${OWNER.user}:x:${OWNER.uid}:${OWNER.gid}:coffer leak test:/nonexistent:/usr/sbin/nologin`, name: OWNER.user, id: OWNER.uid, idField: 2 },
    { path: '/etc/group', line: `${OWNER.group}:x:${OWNER.gid}:`, name: OWNER.group, id: OWNER.gid, idField: 2 },
  ];
  for (const f of files) {
    const lines = (await readFile(f.path, 'utf8')).split('\n');
    if (lines.some((l) => l.split(':')[0] === f.name || l.split(':')[f.idField] === String(f.id))) throw new Error(`${f.path} already has ${f.name} or id ${f.id}: pick others`);
  }
  const before = new Map<string, string>();
  try {
    for (const f of files) {
      const text = await readFile(f.path, 'utf8');
      before.set(f.path, text);
      await writeFile(f.path, `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${f.line}\n`);
    }
    return await fn();
  } finally {
    // Put back the files as they were; if something else changed them meanwhile, take out only our lines.
    for (const f of files) {
      const original = before.get(f.path);
      if (original === undefined) continue;
      const now = await readFile(f.path, 'utf8');
      if (now === `${original}${original.endsWith('\n') || original === '' ? '' : '\n'}${f.line}\n`) await writeFile(f.path, original);
      else if (now.split('\n').includes(f.line)) await writeFile(f.path, now.split('\n').filter((l) => l !== f.line).join('\n'));
    }
  }
}

// ---------------------------------------------------------------------------
// Trees

const SENTENCE = 'Auditor Philippa Wrenfield-Okonkwo approved the Zanzibar-Delta transfer of 4,718,902.55 credits. ';

/** `size` bytes of SENTENCE over and over. */
function compressible(size: number): Buffer {
  return Buffer.from(SENTENCE.repeat(Math.ceil(size / SENTENCE.length))).subarray(0, size);
}

/** Sets every entry under root (root included) to the same whole-second mtime, so no entry needs a PAX mtime record. */
async function wholeSecondTimes(root: string): Promise<void> {
  const t = new Date(Date.UTC(2024, 4, 6, 7, 8, 9));
  const visit = async (p: string): Promise<void> => {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const child = join(p, e.name);
      if (e.isDirectory()) await visit(child);
      if (e.isSymbolicLink()) await lutimes(child, t, t);
      else await utimes(child, t, t);
    }
  };
  await visit(root);
  await utimes(root, t, t);
}

/** Writes files (paths relative to root, '/' separated) with the given contents. */
async function writeTree(root: string, files: { path: string; data: Buffer }[]): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const f of files) {
    const abs = join(root, ...f.path.split('/'));
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, f.data);
  }
  await wholeSecondTimes(root);
}

/** The manifest's plaintext header, with the catalog record the helper's type leaves out. */
type Manifest = Awaited<ReturnType<typeof readManifestHeader>> & { header: { catalog: { size: number; sha256: string; dataChunks: number } } };

async function manifestOf(setDir: string): Promise<Manifest> {
  return (await readManifestHeader(setDir)) as Manifest;
}

interface SizeStructure {
  volumes: { name: string; size: number; frames: number[] }[];
}

/** What a holder of the volumes sees of their sizes: each volume's size and the sealed length of every frame. */
async function sizeStructure(setDir: string): Promise<SizeStructure> {
  const volumes: SizeStructure['volumes'] = [];
  for (const name of (await readdir(setDir)).filter((n) => n.startsWith('volume-')).sort()) {
    const bytes = await readFile(join(setDir, name));
    volumes.push({ name, size: bytes.length, frames: volumeFrames(bytes).frames.map((f) => f.length) });
  }
  return { volumes };
}

/** The sealed lengths of the catalog's frames, at the end of the manifest (after the JSON, the MAC, the flag and any signature). */
function catalogFrames(manifest: Buffer, jsonEnd: number): number[] {
  let at = jsonEnd + 32;
  const signed = manifest[at++] === 1;
  if (signed) at += 64;
  const frames: number[] = [];
  while (at < manifest.length) {
    const length = manifest.readUInt32BE(at);
    frames.push(length);
    at += 4 + length;
  }
  expect(at).toBe(manifest.length);
  return frames;
}

function showStructure(s: SizeStructure): string {
  return s.volumes.map((v) => `${v.name} ${v.size}: ${v.frames.join(' ')}`).join('\n');
}

// ---------------------------------------------------------------------------

describe('what volumes and the manifest reveal without a key', () => {
  it('the scanner finds every encoding it searches for (self-check)', () => {
    const marker = 'Self-check marker Ωμέγα 給与 Xq7Zk';
    const utf8 = Buffer.from(marker, 'utf8');
    const repeated = Buffer.from(`${marker} `.repeat(200));
    const planted: { what: string; bytes: Buffer; stream?: 'raw deflate' | 'zlib' | 'gzip' }[] = [
      { what: 'UTF-8', bytes: utf8 },
      { what: 'UTF-16LE', bytes: Buffer.from(marker, 'utf16le') },
      { what: 'UTF-16BE', bytes: Buffer.from(marker, 'utf16le').swap16() },
      { what: 'hex', bytes: Buffer.from(utf8.toString('hex')) },
      { what: 'HEX', bytes: Buffer.from(utf8.toString('hex').toUpperCase()) },
    ];
    for (const alphabet of ['base64', 'base64url'] as const) {
      for (const shift of [0, 1, 2]) planted.push({ what: `${alphabet} after ${shift} bytes`, bytes: Buffer.from(Buffer.concat([randomBytes(shift), utf8]).toString(alphabet)) });
    }
    for (const level of [1, 6]) {
      planted.push({ what: `raw deflate level ${level}`, bytes: deflateRawSync(repeated, { level }), stream: 'raw deflate' });
      planted.push({ what: `zlib level ${level}`, bytes: deflateSync(repeated, { level }), stream: 'zlib' });
      planted.push({ what: `gzip level ${level}`, bytes: gzipSync(repeated, { level }), stream: 'gzip' });
    }
    const needles = [...encodings('marker', marker), ...compressedForms('repeated marker', repeated)];
    for (const p of planted) {
      const files = new Map([['planted', Buffer.concat([randomBytes(5000 + Math.floor(Math.random() * 100)), p.bytes, randomBytes(5000)])]]);
      expect(scan(files, needles).length, `finds a marker planted as ${p.what}`).toBeGreaterThan(0);
      if (p.stream) {
        const found = inflateScan(files, [{ what: 'marker', bytes: utf8 }]).hits.map((h) => h.what);
        expect(found, `inflating finds a marker planted as ${p.what}`).toContain(`marker inside a ${p.stream} stream`);
      }
    }
    // Random bytes alone: nothing.
    const noise = new Map([['noise', randomBytes(200_000)]]);
    expect(scan(noise, needles)).toEqual([]);
    expect(inflateScan(noise, [{ what: 'marker', bytes: utf8 }]).hits).toEqual([]);
  });
});

describe('a backup of distinctive names and contents', () => {
  const M = {
    'directory name (ASCII)': 'Quarterly-Payroll-Xq7Zk',
    'directory name (non-ASCII)': 'Gehaltsübersicht-Ωμέγα-給与-Rv5',
    'file name (ASCII)': 'patient-records-Kx9vR2.csv',
    'file name (non-ASCII)': 'Ünïcødé-Kundenliste-顧客名簿-Tz3.txt',
    'random file name': 'vault-keys-Hw2Lp.bin',
    'symlink name': 'link-to-treasure-Jd6',
    'symlink target': '../Zielverzeichnis-Geheim-Qv3/target-Mn8.dat',
    'owned file name': 'owned-by-quillon-Pb4.txt',
    'small file content': 'Diagnosis for patient Mortimer Quibblesworth-Vance',
    'owned file content': 'quartermaster of Ashgrove Keep',
    'repeated sentence': SENTENCE.trim(),
    'marker inside random content': 'RANDOM-MARKER-Zp4Lq8Wd-INSIDE',
  };
  const RANDOM_BYTES = 300_000;
  const COMPRESSIBLE_BYTES = 600_000;

  it('no volume or manifest byte reveals names, paths, owners, host name or contents', async () => {
    const base = join(dir, 'distinctive');
    const src = join(base, 'src');
    const target = join(base, 'target');
    const deep = join(src, M['directory name (ASCII)'], M['directory name (non-ASCII)']);
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, M['file name (ASCII)']), `${M['small file content']}: chronic ledger fatigue.\n`);
    const sentences = compressible(COMPRESSIBLE_BYTES);
    await writeFile(join(deep, M['file name (non-ASCII)']), sentences);
    const random = randomBytes(RANDOM_BYTES);
    random.write(M['marker inside random content'], 123_457, 'utf8');
    await writeFile(join(src, M['directory name (ASCII)'], M['random file name']), random);
    await symlink(M['symlink target'], join(src, M['directory name (ASCII)'], M['symlink name']));
    const owned = join(src, M['owned file name']);
    await writeFile(owned, `Belongs to the ${M['owned file content']}.\n`);

    // Owners: as root, a file owned by a user and group that exist (by name) only while the backup runs.
    const markers: Record<string, string> = { ...M };
    markers['relative path'] = `${M['directory name (ASCII)']}/${M['directory name (non-ASCII)']}/${M['file name (ASCII)']}`;
    markers['archive path of the source'] = src.slice(1);
    markers['archive path of a file'] = join(deep, M['file name (non-ASCII)']).slice(1);
    if (isRoot) {
      await chown(owned, OWNER.uid, OWNER.gid);
      markers['user name'] = OWNER.user;
      markers['group name'] = OWNER.group;
    }
    // Host names: the machine's, when long enough for a search to mean anything, and a distinctive one
    // given to the backup's own UTS namespace where root may make one.
    const hostNames: Record<string, string> = {};
    if (Buffer.byteLength(hostname()) >= MIN_MARKER) hostNames['host name'] = hostname();
    const backupHost = canSetHostName ? `coffer-leak-host-${randomBytes(4).toString('hex')}` : undefined;
    if (backupHost) hostNames['host name of the backup'] = backupHost;

    const run = () => backup(src, target, { extra: ['--sign-key', signer.identity], volumeSize: '128K', ...(backupHost ? { host: backupHost } : {}) });
    const { set, setDir } = isRoot ? await withOwnerNames(run) : await run();
    const files = await setFiles(setDir);
    const volumeNames = [...files.keys()].filter((n) => n.startsWith('volume-'));
    expect(volumeNames.length, 'several volumes').toBeGreaterThanOrEqual(3);
    expect(files.has('manifest')).toBe(true);
    const { header } = await readManifestHeader(setDir);
    expect(header.signer).not.toBeNull();
    if (backupHost) {
      // The namespace really gave the backup that host name.
      const probe = spawnSync('unshare', ['--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', backupHost, process.execPath, '-p', 'require("os").hostname()'], { encoding: 'utf8' });
      expect(probe.stdout.trim()).toBe(backupHost);
    }

    // 1. The markers and host names in every encoding, and the sentence compressed as zlib would.
    const needles: Needle[] = [];
    for (const [label, text] of Object.entries({ ...markers, ...hostNames })) needles.push(...encodings(label, text));
    needles.push(...compressedForms('the sentence repeated 64 times', Buffer.from(SENTENCE.repeat(64))));
    needles.push(...compressedForms('the compressible file', sentences));
    const hits = scan(files, dedupe(needles));

    // 2. Nothing in the files inflates to a marker, wherever a stream could start.
    const utf8Markers = Object.entries({ ...markers, ...hostNames }).map(([what, text]) => ({ what, bytes: Buffer.from(text) }));
    const inflated = inflateScan(files, utf8Markers);
    expect(inflated.tries).toBeGreaterThan(0);
    expectNoHits([...hits, ...inflated.hits], files, 'markers (encoded, compressed, or inside a compressed stream)');

    // The set's plaintext, decrypted in-process: the tar stream and the catalog lines.
    const { openTarget } = await dist<typeof TargetModule>('targets/target.js');
    const { loadIdentity } = await dist<typeof IdentityModule>('crypto/identity-file.js');
    const { openSet } = await dist<typeof OpenSetModule>('set/open-set.js');
    const { tarBytes } = await dist<typeof TarSourceModule>('restore/tar-source.js');
    const { chunkWork } = await dist<typeof PoolModule>('parallel/pool.js');
    const { readCatalog } = await dist<typeof CatalogReaderModule>('restore/catalog-reader.js');
    const { encodeCatalogEntry } = await dist<typeof CatalogModule>('format/catalog.js');
    const opened = await openSet(await openTarget(target, { create: false }), set, { identities: [await loadIdentity(recipient.identity, async () => undefined)] });
    const tarParts: Buffer[] = [];
    const work = chunkWork(0);
    for await (const b of tarBytes(opened, [{ start: 0, end: header.tarBytes }], work)) tarParts.push(Buffer.from(b));
    const tar = Buffer.concat(tarParts);
    expect(tar.length).toBe(header.tarBytes);
    const entries: CatalogModule.CatalogEntry[] = [];
    for await (const e of readCatalog(opened)) entries.push(e);
    const catalogLines = entries.map(encodeCatalogEntry);
    const catalogText = catalogLines.join('');

    // The markers are really in the set: what the scan must not find is there to be found.
    for (const [label, text] of Object.entries(markers)) {
      expect(tar.includes(Buffer.from(text)) || catalogText.includes(text), `${label} is in the set's plaintext`).toBe(true);
    }
    if (isRoot) {
      const e = entries.find((x) => x.path === owned.slice(1));
      expect(e, 'the owned file is in the catalog').toBeDefined();
      expect({ uid: e!.uid, gid: e!.gid, uname: e!.uname, gname: e!.gname }).toEqual({ uid: OWNER.uid, gid: OWNER.gid, uname: OWNER.user, gname: OWNER.group });
    }

    const plain: Needle[] = [];
    // 3. Every tar header block of the set and its parts (name; mode, uid, gid, size, mtime; magic, user and group names), and the PAX records.
    const { headers, pax } = tarHeaders(tar);
    expect(headers.length).toBeGreaterThanOrEqual(entries.length);
    const nonZero = (b: Buffer) => b.some((x) => x !== 0);
    for (const h of headers) {
      plain.push({ what: `tar header ${h.name}`, bytes: h.bytes });
      for (const [field, from, to] of [['name field', 0, 100], ['numeric fields', 100, 156], ['magic and owner names', 257, 329]] as const) {
        const part = h.bytes.subarray(from, to);
        if (nonZero(part)) plain.push({ what: `${field} of tar header ${h.name}`, bytes: part });
      }
    }
    for (const p of pax) if (p.bytes.length >= MIN_MARKER) plain.push({ what: p.name, bytes: p.bytes });
    // 4. Samples of the tar stream, and each tar chunk as coffer compresses it (and at level 6).
    for (let at = 0; at + 32 <= tar.length; at += 4096) {
      const sample = tar.subarray(at, at + 32);
      if (varied(sample)) plain.push({ what: `tar bytes at ${at}`, bytes: sample });
    }
    for (let t = 0; t * CHUNK < tar.length; t++) {
      const chunk = tar.subarray(t * CHUNK, (t + 1) * CHUNK);
      for (const level of [1, 6]) plain.push({ what: `tar chunk ${t} deflated at level ${level}`, bytes: deflateRawSync(chunk, { level }).subarray(0, 32) });
    }
    // 5. The catalog's lines.
    catalogLines.forEach((line, i) => plain.push({ what: `catalog line ${i + 1}`, bytes: Buffer.from(line) }));

    expectNoHits(scan(files, dedupe(plain)), files, "pieces of the set's plaintext");
  });
});

describe('what sizes reveal', () => {
  const FILES = 16;
  /** One file of ~1 MiB and 15 of one block, or 16 of the same size: the same count and total, every size a multiple of 512. */
  const skewed = [FILES * 66_048 - (FILES - 1) * 512, ...new Array<number>(FILES - 1).fill(512)];
  const even = new Array<number>(FILES).fill(66_048);
  const names = Array.from({ length: FILES }, (_, i) => `f${String(i).padStart(2, '0')}`);

  it('file size distribution is invisible with --pad; without it a chunk dense with file starts shows', async () => {
    expect(skewed.reduce((a, b) => a + b)).toBe(even.reduce((a, b) => a + b));
    const base = join(dir, 'sizes');
    // Source folders with names of one length, so that the archive paths (and catalog lines) have one length too.
    const trees = { skewed: { dir: join(base, 'tree-1'), sizes: skewed }, even: { dir: join(base, 'tree-2'), sizes: even } };
    const structures: Record<string, SizeStructure> = {};
    const manifests: Record<string, Manifest> = {};
    for (const t of Object.values(trees)) await writeTree(t.dir, t.sizes.map((size, i) => ({ path: names[i]!, data: randomBytes(size) })));
    for (const pad of [true, false]) {
      for (const [name, t] of Object.entries(trees)) {
        const key = `${name}${pad ? ' --pad' : ''}`;
        const { setDir } = await backup(t.dir, join(base, `target ${key}`), { extra: pad ? ['--pad'] : [] });
        structures[key] = await sizeStructure(setDir);
        manifests[key] = await manifestOf(setDir);
      }
    }
    const same = (a: string, b: string, hint = '') => {
      expect(manifests[a]!.header.tarBytes, 'both tar streams have the same length').toBe(manifests[b]!.header.tarBytes);
      expect(structures[a]!.volumes.length, `${a} vs ${b}: volumes`).toBeGreaterThanOrEqual(3);
      expect(structures[a], `size structure of ${a} and ${b}${hint}\n--- ${a}\n${showStructure(structures[a]!)}\n--- ${b}\n${showStructure(structures[b]!)}\n`).toEqual(structures[b]);
    };
    same('skewed --pad', 'even --pad');
    // With --pad the catalog (one padded chunk each) and so the whole manifest have one size too.
    expect(manifests['skewed --pad']!.header.catalog.size).toBe(manifests['even --pad']!.header.catalog.size);
    expect(manifests['skewed --pad']!.bytes.length).toBe(manifests['even --pad']!.bytes.length);
    // Without --pad, chunks are padded to 1/16 steps: here a step is 4 KiB, and 15 tar headers in one
    // 64 KiB chunk compress by more than that, so the skewed tree shows (docs/THREAT-MODEL.md says so).
    expect(structures['skewed'], 'without --pad, a chunk dense with file starts shows at 64K chunks').not.toEqual(structures['even']);
  });

  it('file size distribution is invisible without --pad too, at the default chunk size', async () => {
    // 1 MiB chunks: a step is 64 KiB, and the headers of random files of 8 KiB and more never
    // compress a chunk by a step, so a chunk holding file starts seals like one that holds none.
    const sizes = {
      skewed: [3 * 1024 * 1024, 8192, 8192, 8192, 16384, 32768, 65536, 131072, 262144, 524288],
      even: [] as number[],
    };
    const total = sizes.skewed.reduce((a, b) => a + b);
    sizes.even = new Array<number>(sizes.skewed.length).fill(0).map((_, i, all) => (i < all.length - 1 ? Math.floor(total / all.length / 512) * 512 : 0));
    sizes.even[sizes.even.length - 1] = total - sizes.even.reduce((a, b) => a + b);
    const base = join(dir, 'sizes-default');
    const structures: Record<string, SizeStructure> = {};
    const tarLengths: Record<string, number> = {};
    for (const [name, list] of Object.entries(sizes)) {
      const tree = join(base, name === 'skewed' ? 'tree-1' : 'tree-2');
      await writeTree(tree, list.map((size, i) => ({ path: `g${String(i).padStart(2, '0')}`, data: randomBytes(size) })));
      const args = ['backup', tree, '--to', join(base, `target ${name}`), '--recipient', recipient.pub, '--volume-size', '2M', '--json'];
      const r = json(await ok(args));
      const setDir = join(base, `target ${name}`, r.set);
      structures[name] = await sizeStructure(setDir);
      tarLengths[name] = (await manifestOf(setDir)).header.tarBytes;
    }
    expect(tarLengths['skewed']).toBe(tarLengths['even']);
    expect(structures['skewed']!.volumes.length).toBeGreaterThanOrEqual(2);
    expect(structures['skewed'], `size structure without --pad\n--- skewed\n${showStructure(structures['skewed']!)}\n--- even\n${showStructure(structures['even']!)}`).toEqual(structures['even']);
  });

  it('--pad makes compressible and random trees identical in size structure', async () => {
    const layout = [
      { path: 'doc-1.txt', size: 300_000 },
      { path: 'doc-2.txt', size: 150_000 },
      { path: 'sub/doc-3.txt', size: 40_000 },
      { path: 'sub/doc-4.txt', size: 5_000 },
      { path: 'sub/deeper/doc-5.txt', size: 70_001 },
    ];
    const base = join(dir, 'pad');
    const trees = {
      compressible: { dir: join(base, 'tree-1'), content: (size: number) => compressible(size) },
      random: { dir: join(base, 'tree-2'), content: (size: number) => randomBytes(size) },
    };
    for (const t of Object.values(trees)) await writeTree(t.dir, layout.map((f) => ({ path: f.path, data: t.content(f.size) })));
    const sets: Record<string, { structure: SizeStructure; manifest: Manifest }> = {};
    const runs: { tree: keyof typeof trees; flags: string[] }[] = [
      { tree: 'compressible', flags: [] },
      { tree: 'random', flags: [] },
      { tree: 'compressible', flags: ['--pad'] },
      { tree: 'random', flags: ['--pad'] },
      // Padding also hides compression when both are asked for.
      { tree: 'compressible', flags: ['--pad', '--compress', 'deflate'] },
    ];
    for (const r of runs) {
      const key = [r.tree, ...r.flags].join(' ');
      const { setDir } = await backup(trees[r.tree].dir, join(base, `target ${key}`), { extra: r.flags });
      sets[key] = { structure: await sizeStructure(setDir), manifest: await manifestOf(setDir) };
    }
    const show = (a: string, b: string) => `--- ${a}\n${showStructure(sets[a]!.structure)}\n--- ${b}\n${showStructure(sets[b]!.structure)}\n`;
    expect(sets['compressible']!.manifest.header.tarBytes).toBe(sets['random']!.manifest.header.tarBytes);

    // Without --pad, compression shows: the compressible tree's frames are shorter (what docs/THREAT-MODEL.md says compression leaks).
    const frames = (k: string) => sets[k]!.structure.volumes.flatMap((v) => v.frames);
    const total = (k: string) => sets[k]!.structure.volumes.reduce((n, v) => n + v.size, 0);
    expect(frames('compressible'), show('compressible', 'random')).not.toEqual(frames('random'));
    expect(total('compressible')).toBeLessThan(total('random') / 4);

    // With --pad: the same volumes, frames and catalog size, and the same manifest length.
    for (const k of ['compressible --pad', 'compressible --pad --compress deflate']) {
      expect(sets[k]!.structure, show(k, 'random --pad')).toEqual(sets['random --pad']!.structure);
      expect(sets[k]!.manifest.header.catalog.size, `${k}: catalog size`).toBe(sets['random --pad']!.manifest.header.catalog.size);
      expect(sets[k]!.manifest.bytes.length, `${k}: manifest size`).toBe(sets['random --pad']!.manifest.bytes.length);
    }

    // Every data frame of a padded set, in the volumes and in the catalog, seals to 1 + 4 + chunk size + 16; end frames to 17.
    for (const k of ['compressible --pad', 'random --pad', 'compressible --pad --compress deflate']) {
      const { volumes } = sets[k]!.structure;
      for (const v of volumes) {
        expect(v.frames.slice(0, -1).every((l) => l === PADDED_SEALED), `${k} ${v.name}: ${v.frames.join(' ')}`).toBe(true);
        expect(v.frames.at(-1)).toBe(END_SEALED);
      }
      expect(volumes.reduce((n, v) => n + v.frames.length - 1, 0)).toBe(Math.ceil(sets[k]!.manifest.header.tarBytes / CHUNK));
      const cat = catalogFrames(sets[k]!.manifest.bytes, sets[k]!.manifest.jsonEnd);
      expect(cat.slice(0, -1).length).toBeGreaterThan(0);
      expect(cat.slice(0, -1).every((l) => l === PADDED_SEALED), `${k} catalog: ${cat.join(' ')}`).toBe(true);
      expect(cat.at(-1)).toBe(END_SEALED);
    }

    // And a padded set restores to the same bytes.
    for (const [tree, key] of [['compressible', 'compressible --pad'], ['random', 'random --pad'], ['compressible', 'compressible --pad --compress deflate']] as const) {
      const restoreDir = join(base, `restored ${key}`);
      await ok(['restore', join(base, `target ${key}`), '--to', restoreDir, '--identity', recipient.identity]);
      await expectSameTree(restoredPath(restoreDir, trees[tree].dir), trees[tree].dir);
    }
  });
});
