// Fuzz target: tar entries inside a decrypted stream. A tar stream is
// packed from generated entries (names with '..', '.', empty parts, an
// absolute path into a folder outside the restore, 255/256-byte parts, NUL,
// newline, non-ASCII; every entry type; links out of the folder and through
// symlinks; odd modes, times, ids, device numbers, PAX records), then
// mutated at its header fields, PAX records and blocks (checksums repaired,
// mostly, so the edits reach the parser behind them). The bytes are sealed
// into a real set with writeSet, with an empty catalog, the catalog written
// before the edits, or one that matches what the parser reads, and restored
// into a temporary folder: --volumes-only, or through the manifest.
//
// Properties: the restore finishes within bounded memory; it fails only with
// an IntegrityError (or a TargetError for a full or failing disk), refusing
// and warning otherwise, never "I/O failure" for what the archive holds; it never
// writes outside its folder: the folder beside it is unchanged and no other
// name appears in their parent. No temporary file is left behind.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll } from 'vitest';
import { writeSet } from '../../src/backup/run.js';
import { IntegrityError, TargetError } from '../../src/errors.js';
import type { CatalogEntry } from '../../src/format/catalog.js';
import { silentLogger } from '../../src/log.js';
import { noProgress } from '../../src/progress.js';
import { runRestore } from '../../src/restore/run.js';
import { openSet, openSetFromVolumes } from '../../src/set/open-set.js';
import { defineFuzzTarget, fromJson, toJson, typedOutcome } from './lib/harness.js';
import { applyEdits, editsArb } from './lib/mutate.js';
import type { Edit } from './lib/mutate.js';
import { CHUNK_SIZE, identity, keys, MapTarget } from './lib/sets.js';
import { catalogFor, contentOf, fixChecksums, headerBlocks, packTar, tarLandmarks } from './lib/tar.js';
import type { TarEntryInput, TarHeader } from './lib/tar.js';

/** Name parts; OUT stands for the absolute path of the folder beside the restore folder. */
const OUT = '@OUT';
const PARTS = ['a', 'b', 'dir', 'f', 'link', '..', '.', '', OUT, 'x'.repeat(255), 'y'.repeat(256), 'é', 'new\nline', 'nul\0byte', 'victim.txt', '-'];
const TYPES = ['file', 'file', 'directory', 'symlink', 'link', 'fifo', 'character-device', 'block-device', 'contiguous-file'] as const;
const PAX_KEYS = ['mtime', 'uid', 'gid', 'uname', 'gname', 'size', 'path', 'linkpath', 'atime', 'comment'];
const PAX_VALUES = ['0', '-1', '1.5', '1e400', '99999999999999999999', '4294967296', '9007199254740993', '', 'a', '../x', '/etc', `${OUT}/victim.txt`, '-0.000001', '1.', '  7'];

/** Failures of the machine, not of the archive: the only TargetErrors a restore may end with. */
const ENVIRONMENT = ['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE'];

interface GenEntry {
  name: number[];
  absolute: boolean;
  type: (typeof TYPES)[number];
  link: number[];
  size: number;
  fill: number;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  dev: [number, number];
  pax: [number, number][];
}

interface TarCase {
  entries: GenEntry[];
  edits: Edit[];
  fixChecksums: boolean;
  catalog: 'empty' | 'original' | 'matching';
  restore: 'volumes-only' | 'manifest';
}

const partArb = fc.nat(PARTS.length - 1);
const entryArb: fc.Arbitrary<GenEntry> = fc.record({
  name: fc.array(fc.oneof({ weight: 5, arbitrary: fc.nat(4) }, { weight: 2, arbitrary: partArb }), { minLength: 1, maxLength: 4 }),
  absolute: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  type: fc.constantFrom(...TYPES),
  link: fc.array(fc.oneof({ weight: 5, arbitrary: fc.nat(4) }, { weight: 2, arbitrary: partArb }), { minLength: 1, maxLength: 3 }),
  size: fc.oneof({ weight: 4, arbitrary: fc.nat(700) }, { weight: 1, arbitrary: fc.integer({ min: 4000, max: 9000 }) }),
  fill: fc.nat(255),
  mode: fc.oneof(fc.constantFrom(0o644, 0o755, 0o000, 0o7777, 0o4755, 0o1777), fc.nat(0o7777)),
  mtime: fc.oneof(fc.constantFrom(0, -1, 1_700_000_000, 2 ** 33 - 1, 8_589_934_592, -62_135_596_800), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
  uid: fc.oneof(fc.constantFrom(0, 1000, 65534, 2 ** 21 - 1), fc.nat(2 ** 21 - 1)),
  gid: fc.oneof(fc.constantFrom(0, 1000, 65534), fc.nat(2 ** 21 - 1)),
  dev: fc.tuple(fc.nat(300), fc.nat(300)),
  pax: fc.oneof({ weight: 3, arbitrary: fc.constant<[number, number][]>([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.nat(PAX_KEYS.length - 1), fc.nat(PAX_VALUES.length - 1)), { maxLength: 3 }) }),
});

const arbitrary: fc.Arbitrary<TarCase> = fc.record({
  entries: fc.array(entryArb, { minLength: 1, maxLength: 8 }),
  edits: fc.oneof({ weight: 1, arbitrary: fc.constant<Edit[]>([]) }, { weight: 3, arbitrary: editsArb({ maxEdits: 4, maxRandom: 1200, u32Values: [0x30303030, 0x37373737, 0x80000000] }) }),
  fixChecksums: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  catalog: fc.constantFrom('empty' as const, 'original' as const, 'matching' as const, 'matching' as const),
  restore: fc.constantFrom('volumes-only' as const, 'manifest' as const),
});

// --- the sandbox: base/out (must not change) and base/r (the restore folder)

let base = '';
let out = '';
let before = '';

/** Everything under a folder: names, types, modes, times, link targets, content hashes. */
function snapshot(dir: string): string {
  const lines: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isDirectory() ? 'dir' : 'special';
      lines.push(`${rel}${name} ${st.mode.toString(8)} ${st.nlink} ${st.mtimeMs} ${what}`);
      if (st.isDirectory()) walk(p, `${rel}${name}/`);
    }
  };
  walk(dir, '');
  return lines.join('\n');
}

async function setup(): Promise<void> {
  if (base) return;
  base = mkdtempSync(join(tmpdir(), 'coffer-fuzz-tar-'));
  out = join(base, 'out');
  mkdirSync(join(out, 'dir'), { recursive: true });
  writeFileSync(join(out, 'victim.txt'), 'original victim\n');
  writeFileSync(join(out, 'dir', 'secret'), 'original secret\n');
  before = snapshot(out);
}
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

function nameOf(parts: number[], absolute: boolean): string {
  const names = parts.map((i) => (PARTS[i % PARTS.length] === OUT ? out : PARTS[i % PARTS.length]!));
  const joined = names.join('/');
  return absolute && !joined.startsWith('/') ? `/${joined}` : joined;
}

function entryOf(g: GenEntry): TarEntryInput {
  const header: TarHeader = {
    name: nameOf(g.name, g.absolute),
    type: g.type,
    mode: g.mode,
    mtime: new Date(g.mtime * 1000),
    uid: g.uid,
    gid: g.gid,
    devmajor: g.dev[0],
    devminor: g.dev[1],
  };
  if (g.type === 'symlink' || g.type === 'link') header.linkname = nameOf(g.link, false);
  if (g.pax.length) header.pax = Object.fromEntries(g.pax.map(([k, v]) => [PAX_KEYS[k]!, PAX_VALUES[v]!.replace(OUT, out)]));
  const body = g.type === 'file' || g.type === 'contiguous-file' ? Buffer.alloc(g.size, g.fill) : undefined;
  return { header, ...(body ? { body } : {}) };
}

interface Prepared {
  c: TarCase;
  target: MapTarget;
  set: string;
}

async function prepare(c: TarCase): Promise<Prepared> {
  await setup();
  const { tar, records } = await packTar(c.entries.map(entryOf));
  const edited = applyEdits({ bytes: tar, marks: tarLandmarks(tar) }, c.edits);
  const bytes = c.fixChecksums ? fixChecksums(edited, headerBlocks(tar)) : edited;
  const catalog: CatalogEntry[] = c.catalog === 'empty' ? [] : c.catalog === 'original' ? records : await catalogFor(bytes);
  const target = new MapTarget();
  const r = await writeSet(
    {
      target,
      recipients: [identity.public],
      volumeSize: 1024 * 1024,
      chunkSize: CHUNK_SIZE,
      compression: 'deflate',
      pad: false,
      label: 'fuzz tar',
      log: silentLogger,
      progress: noProgress,
    },
    contentOf(bytes, catalog, 777),
  );
  return { c, target, set: r.set };
}

let counter = 0;

async function run({ c, target, set }: Prepared): Promise<string> {
  const to = join(base, `r${++counter}`);
  let outcome: () => string;
  try {
    const s = c.restore === 'volumes-only' ? await openSetFromVolumes(target, set, keys) : await openSet(target, set, keys);
    const r = await runRestore(s, { to, include: [], workers: 0, log: silentLogger, progress: noProgress });
    outcome = () => `ok${r.refused.length ? ', refused' : ''}${r.warnings.count ? ', warnings' : ''}`;
  } catch (err) {
    outcome = () => typedOutcome(err, (e) => e instanceof IntegrityError || (e instanceof TargetError && ENVIRONMENT.includes((e.cause as NodeJS.ErrnoException).code!)));
  }
  try {
    // Nothing outside the restore folder: the folder beside it unchanged, nothing else beside them.
    const after = snapshot(out);
    if (after !== before) throw new Error(`the restore changed a folder outside its own:\n--- before\n${before}\n--- after\n${after}`);
    const beside = readdirSync(base).filter((n) => n !== 'out' && n !== `r${counter}`);
    if (beside.length) throw new Error(`the restore created ${JSON.stringify(beside)} beside its folder`);
    const temps = snapshotNames(to).filter((n) => /(^|\/)\.coffer-restore-[0-9a-f]{12}(-[0-9a-z]+)?$/.test(n));
    if (temps.length) throw new Error(`the restore left temporary files: ${JSON.stringify(temps)}`);
  } finally {
    rmSync(to, { recursive: true, force: true });
  }
  return `${c.restore}, ${c.catalog} catalog: ${outcome()}`;
}

function snapshotNames(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      out.push(`${rel}${name}`);
      if (lstatSync(join(d, name)).isDirectory()) walk(join(d, name), `${rel}${name}/`);
    }
  };
  walk(dir, '');
  return out;
}

defineFuzzTarget<TarCase, Prepared>({
  name: 'tar',
  file: 'test/fuzz/tar.test.ts',
  arbitrary,
  prepare,
  run,
  boundedRuns: 120,
  seedExt: 'json',
  toSeed: toJson,
  fromSeed: (b) => fromJson<TarCase>(b),
  setup,
});
