#!/usr/bin/env node
// @ts-check
/**
 * coffer's throughput benchmark (issue 4): coffer backup, keyed verify and
 * restore, and the peers that are installed (restic, borg, duplicity,
 * `tar | zstd | age`, `tar | gpg`), on the same deterministic corpora,
 * interleaved over several rounds. Prints a markdown report (or, with
 * --json, one JSON object) on stdout; progress goes to stderr.
 *
 * Not part of `npm test`; nothing in src/ imports it. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { census, ensureCorpus, hashFile, largeCorpus, sampleOf, smallCorpus, warm } from './lib/corpus.mjs';
import { TIME, measure, run, stopRunning } from './lib/measure.mjs';
import { markdown, ratios, summarize } from './lib/report.mjs';
import { STEADY_SPREAD, hostSpeed } from './lib/host-speed.mjs';
import { TOOL_ALIASES, TOOL_IDS, parseVariant, tools as allTools, which } from './lib/tools.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

const USAGE = `usage: npm run bench -- [options]      (or: node bench/run.mjs [options])

  npm run bench -- --quick                      smoke run: 256 MiB in 8 files, 5,000 small files, 1 round
  npm run bench                                 2 GiB in 40 files and 100,000 small files, 3 rounds
  npm run bench -- --scale 4 --json > out.json  also coffer on corpora 4x larger (RSS growth)

options:
  --quick               smaller corpora and 1 round (each can still be set below)
  --large-gib N         large-file corpus size in GiB (default 2; --quick 0.25)
  --large-files N       number of large files (default 40; --quick 8)
  --small-files N       number of small files, 1-16 KiB each (default 100000; --quick 5000)
  --rounds N            rounds; each runs every tool once (default 3; --quick 1)
  --corpus LIST         large,small (default both)
  --only LIST           tools: ${TOOL_IDS.join(',')} (aliases: age, gpg; default: all installed)
  --scale N             also run coffer (or --scale-tools) on corpora N times larger
  --scale-tools LIST    tools to run on the scaled corpora (default coffer; coffer:NAME for a variant)
  --coffer-flags "..."  extra flags for coffer backup, split on spaces (e.g. "--compress none")
  --coffer-variant NAME=FLAGS
                        also run coffer as "coffer:NAME" with FLAGS on backup, verify and restore;
                        KEY=VALUE words in FLAGS set the environment (repeatable; e.g. 'w1=--workers 1')
  --cold                drop the page cache before every operation instead of warming it (a nightly
                        backup's case; needs root: writes /proc/sys/vm/drop_caches)
  --check MODE          after each restore: sample (default: file count, bytes and 64 files' SHA-256),
                        full (every file's SHA-256) or count
  --seed S              corpus seed (default coffer-bench-1)
  --cache DIR           corpus cache (default bench/.corpus, or $COFFER_BENCH_CACHE)
  --work DIR            repositories, restores, logs (default bench/.work, or $COFFER_BENCH_WORK)
  --restore-dir DIR     restore output trees here instead of under --work
  --timeout S           end an operation (and what it started) after S seconds (default 3600)
  --keep                leave repositories and restore trees behind
  --json                one JSON object on stdout instead of markdown
  -h, --help`;

/** @param {string} msg */
const say = (msg) => process.stderr.write(`bench: ${msg}\n`);

function parse() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'large-gib': { type: 'string' },
      'large-files': { type: 'string' },
      'small-files': { type: 'string' },
      rounds: { type: 'string' },
      corpus: { type: 'string', default: 'large,small' },
      only: { type: 'string' },
      scale: { type: 'string' },
      'scale-tools': { type: 'string', default: 'coffer' },
      'coffer-flags': { type: 'string', default: '' },
      'coffer-variant': { type: 'string', multiple: true, default: [] },
      cold: { type: 'boolean', default: false },
      check: { type: 'string', default: 'sample' },
      seed: { type: 'string', default: 'coffer-bench-1' },
      cache: { type: 'string', default: process.env.COFFER_BENCH_CACHE ?? join(HERE, '.corpus') },
      work: { type: 'string', default: process.env.COFFER_BENCH_WORK ?? join(HERE, '.work') },
      'restore-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const num = (/** @type {string | undefined} */ v, /** @type {number} */ dflt, /** @type {string} */ name, integer = true) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) usage(`${name} wants a positive ${integer ? 'integer' : 'number'}, not ${v}`);
    return n;
  };
  const q = values.quick;
  const variantIds = values['coffer-variant'].map((v) => `coffer:${v.slice(0, v.indexOf('='))}`);
  const toolList = (/** @type {string} */ s) => s.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const id = TOOL_ALIASES[x] ?? x;
    if (!TOOL_IDS.includes(id) && !variantIds.includes(id)) usage(`unknown tool ${x}; known: ${TOOL_IDS.join(', ')}, or coffer:NAME of a --coffer-variant`);
    return id;
  });
  const corpora = values.corpus.split(',').map((x) => x.trim());
  for (const c of corpora) if (c !== 'large' && c !== 'small') usage(`--corpus takes large and/or small, not ${c}`);
  if (!['sample', 'full', 'count'].includes(values.check)) usage(`--check takes sample, full or count`);
  return {
    quick: q,
    largeGiB: num(values['large-gib'], q ? 0.25 : 2, '--large-gib', false),
    largeFiles: num(values['large-files'], q ? 8 : 40, '--large-files'),
    smallFiles: num(values['small-files'], q ? 5000 : 100_000, '--small-files'),
    rounds: num(values.rounds, q ? 1 : 3, '--rounds'),
    corpora,
    only: values.only ? toolList(values.only) : undefined,
    scale: values.scale ? num(values.scale, 1, '--scale') : 1,
    scaleTools: toolList(values['scale-tools']),
    cofferFlags: values['coffer-flags'].split(' ').filter(Boolean),
    cofferVariants: values['coffer-variant'].map((v) => {
      try {
        return parseVariant(v);
      } catch (e) {
        return usage(e instanceof Error ? e.message : String(e));
      }
    }),
    cold: values.cold,
    check: /** @type {'sample' | 'full' | 'count'} */ (values.check),
    seed: values.seed,
    cache: resolve(values.cache),
    work: resolve(values.work),
    restoreDir: values['restore-dir'] ? resolve(values['restore-dir']) : undefined,
    keep: values.keep,
    timeout: num(values.timeout, 3600, '--timeout'),
    json: values.json,
  };
}

/**
 * Writes back what is dirty, then drops the clean page cache, dentries and
 * inodes, so the next run reads the corpus (and its repository) from disk.
 */
function dropCaches() {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch (e) {
    usage(`--cold cannot drop the page cache (${/** @type {NodeJS.ErrnoException} */ (e).code ?? e}): it writes /proc/sys/vm/drop_caches, which needs root`);
  }
}

/** @param {string} msg @returns {never} */
function usage(msg) {
  process.stderr.write(`bench: error: ${msg}\nbench: hint: node bench/run.mjs --help\n`);
  process.exit(2);
}

function machine(/** @type {string} */ dir, /** @type {number} */ loadBefore, /** @type {number[]} */ speeds) {
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  let os = `Linux ${release()}`;
  try {
    const pretty = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?/m);
    if (pretty) os += ` (${pretty[1]})`;
  } catch {
    // not Linux, or no os-release
  }
  let fs = '';
  const fm = spawnSync('findmnt', ['-no', 'FSTYPE,SOURCE', '-T', dir], { encoding: 'utf8' });
  if (fm.status === 0) fs = fm.stdout.trim().replace(/\s+/, ' on ');
  return {
    CPU: `${cpuModel}, ${cpus().length} cores`,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    OS: os,
    ...(fs ? { 'work filesystem': fs } : {}),
    Node: process.version,
    'load average (1 min)': `${loadBefore.toFixed(2)} before the runs, ${loadavg()[0].toFixed(2)} after`,
    ...(speeds.length ? { 'host speed (SHA-256, one core, before each round)': `${Math.min(...speeds).toFixed(2)}-${Math.max(...speeds).toFixed(2)} GiB/s` } : {}),
  };
}

/** Bytes of every file under `dir`. */
async function storedBytes(/** @type {string} */ dir) {
  return (await census(dir)).bytes;
}

/** zstd -1 ratio of one text file of the corpus, for the report. */
function textRatio(/** @type {import('./lib/corpus.mjs').Corpus} */ c) {
  const f = c.files.find((x) => x.kind === 'text');
  if (!f || !which('zstd')) return undefined;
  const r = spawnSync('bash', ['-c', 'zstd -1 -c -q "$1" | wc -c', 'bench', join(c.tree, f.path)], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return r.status === 0 && n > 0 ? f.size / n : undefined;
}

async function main() {
  const o = parse();
  if (!existsSync(TIME)) usage(`${TIME} (GNU time) is missing: install it with bench/install-peers.sh (apt-get install time)`);
  if (o.cold) dropCaches(); // fails here, before anything is built, when it cannot
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const workRun = join(o.work, `run-${stamp}`);
  const restoreBase = o.restoreDir ? join(o.restoreDir, `run-${stamp}`) : join(workRun, 'restore');
  const secrets = join(workRun, 'secrets');
  const gnupgHome = join(workRun, 'gnupg');
  const logs = join(workRun, 'logs');
  for (const d of [secrets, gnupgHome]) mkdirSync(d, { recursive: true, mode: 0o700 });
  mkdirSync(logs, { recursive: true });
  mkdirSync(restoreBase, { recursive: true });
  mkdirSync(o.cache, { recursive: true });

  // An interrupted run leaves repositories and restore trees; say so, but do not delete them now
  // (deleting many files just before the timed runs would slow them).
  const old = readdirSync(o.work).filter((x) => x.startsWith('run-') && x !== `run-${stamp}` && ['repo', 'restore', 'state'].some((s) => existsSync(join(o.work, x, s))));
  if (old.length) say(`note: ${o.work} holds what interrupted runs left (${old.join(', ')}); remove it when no benchmark runs`);

  // Tools: those asked for (or all), less those not installed.
  const cofferBin = join(ROOT, 'bin', 'coffer');
  const every = allTools({ cofferBin, cofferFlags: o.cofferFlags, cofferVariants: o.cofferVariants, gnupgHome });
  const wanted = every.filter((t) => !o.only || o.only.includes(t.id) || t.id.startsWith('coffer:'));
  /** @type {Record<string, string>} */
  const skipped = {};
  const active = wanted.filter((t) => {
    const why = t.missing();
    if (why) { skipped[t.id] = why; say(`skipping ${t.id}: ${why}`); }
    return !why;
  });
  if (!active.length) usage('no tool to run');
  /** @type {Record<string, string>} */
  const versions = {};
  /** @type {Record<string, string>} */
  const labels = {};
  for (const t of active) {
    versions[t.id.replace(/:.*/, '')] = await t.version();
    labels[t.id] = t.label;
    await t.setup(secrets);
  }
  versions.tar = (await run({ cmd: 'tar', args: ['--version'] })).split('\n')[0].replace(/^tar \(GNU tar\) /, 'GNU tar ');

  // Corpora: base sizes, then (with --scale) the larger ones for the RSS growth check.
  const groups = [];
  if (o.corpora.includes('large')) groups.push({ scale: 1, c: largeCorpus({ cache: o.cache, gib: o.largeGiB, count: o.largeFiles, seed: o.seed }) });
  if (o.corpora.includes('small')) groups.push({ scale: 1, c: smallCorpus({ cache: o.cache, count: o.smallFiles, seed: o.seed }) });
  if (o.scale > 1) {
    if (o.corpora.includes('large')) groups.push({ scale: o.scale, c: largeCorpus({ cache: o.cache, gib: o.largeGiB * o.scale, count: o.largeFiles * o.scale, seed: o.seed }) });
    if (o.corpora.includes('small')) groups.push({ scale: o.scale, c: smallCorpus({ cache: o.cache, count: o.smallFiles * o.scale, seed: o.seed }) });
  }
  /** @type {import('./lib/report.mjs').CorpusInfo[]} */
  const corpora = [];
  for (const { scale, c } of groups) {
    const { digest } = ensureCorpus(c, say);
    const label = c.kind === 'large'
      ? `${c.files.length} large files${scale > 1 ? ` (x${scale})` : ''}`
      : `${c.files.length.toLocaleString('en-US')} small files${scale > 1 ? ` (x${scale})` : ''}`;
    corpora.push({ key: c.key, label, kind: c.kind, scale, files: c.files.length, folders: c.dirs.length, bytes: c.bytes, digest, ...(c.kind === 'large' ? { textRatio: textRatio(c) } : {}) });
  }

  // Disk: small-file restore trees are kept until the end (see README; with --keep, every tree),
  // plus one repository and one large restore at a time.
  const phaseTools = (/** @type {number} */ scale) => active.filter((t) => scale === 1 || o.scaleTools.includes(t.id));
  let need = 0;
  for (const { scale, c } of groups) {
    const perTree = c.bytes + c.files.length * 4096;
    need = Math.max(need, 2 * perTree);
    if (c.kind === 'small' || o.keep) need += phaseTools(scale).length * o.rounds * perTree;
  }
  const st = statfsSync(restoreBase);
  const free = st.bavail * st.bsize;
  if (free < need * 1.1) usage(`the benchmark needs about ${(need / 1e9).toFixed(1)} GB free under ${restoreBase}, and ${(free / 1e9).toFixed(1)} GB are; use --restore-dir elsewhere, fewer --rounds or fewer files`);

  /** @type {import('./lib/report.mjs').RunRecord[]} */
  const runs = [];
  const loadBefore = loadavg()[0];
  /** @type {number[]} */
  const speeds = [];
  /** @type {string[]} */
  const keptTrees = [];
  let aborted = false;
  process.on('SIGINT', () => { aborted = true; stopRunning(); say('interrupted: cleaning up'); });

  for (const { scale, c } of groups) {
    const ts = phaseTools(scale);
    const info = /** @type {import('./lib/report.mjs').CorpusInfo} */ (corpora.find((x) => x.key === c.key));
    const sample = o.check === 'full' ? c.files : o.check === 'sample' ? sampleOf(c, 64) : [];
    /** @type {Map<string, string>} */
    const expected = new Map();
    for (const f of sample) expected.set(f.path, await hashFile(join(c.tree, f.path)));
    for (let round = 1; round <= o.rounds && !aborted; round++) {
      const cache = o.cold ? 'page cache dropped before each operation' : `page cache warmed in ${warm(c).toFixed(1)} s`;
      speeds.push(hostSpeed());
      say(`${info.label}, round ${round}/${o.rounds} (${cache}; host SHA-256 ${speeds.at(-1)?.toFixed(2)} GiB/s)`);
      const order = ts.map((_, i) => ts[(i + round - 1) % ts.length]);
      for (const t of order) {
        if (aborted) break;
        const name = `${c.key}-${t.id.replace(/:/g, '-')}-r${round}`;
        const d = { corpusDir: c.dir, tree: c.tree, repo: join(workRun, 'repo', name), out: join(restoreBase, name), state: join(workRun, 'state', name) };
        mkdirSync(d.repo, { recursive: true });
        mkdirSync(d.state, { recursive: true });
        try {
          await t.prepare(d);
        } catch (e) {
          runs.push({ corpus: c.key, tool: t.id, op: 'prepare', round, wall: 0, user: 0, sys: 0, cpu: 0, rssKiB: 0, exitCode: -1, ok: false, error: String(e).slice(0, 500) });
          say(`  ${t.id}: prepare failed: ${e}`);
          continue;
        }
        for (const op of t.ops) {
          spawnSync('sync'); // untimed: write back what earlier runs left dirty, so it does not land in this one
          // Untimed: the page cache can be reclaimed within minutes (PERFORMANCE.md), so every backup starts warm, not only the round's first.
          if (o.cold) dropCaches();
          else if (op === 'backup') warm(c);
          const log = join(logs, `${name}-${op}`.replace(/:/g, '-'));
          const m = await measure(t.command(op, d), log, o.timeout);
          if (aborted) break; // ended by Ctrl-C: not a result
          /** @type {import('./lib/report.mjs').RunRecord} */
          const rec = { corpus: c.key, tool: t.id, op, round, ...m, ok: m.exitCode === 0 };
          if (m.exitCode === 124 && m.cpu === 0) rec.error = `timed out after ${o.timeout} s`;
          else if (!rec.ok) rec.error = `exit ${m.exitCode}: ${jsonError(`${log}.out`) || tail(`${log}.err`) || tail(`${log}.out`)}`;
          const said = rec.ok && t.checkOutput ? t.checkOutput(op, readFileSync(`${log}.out`, 'utf8'), { files: c.files.length, bytes: c.bytes }) : undefined;
          if (said) { rec.ok = false; rec.error = said; }
          if (rec.ok && op === 'backup') rec.storedBytes = await storedBytes(d.repo);
          if (rec.ok && op === 'restore') {
            const problem = await checkRestore(t.restoredRoot(d), c, expected);
            rec.check = problem ?? (o.check === 'count' ? 'files and bytes match' : `files and bytes match, ${expected.size} SHA-256 match`);
            if (problem) { rec.ok = false; rec.error = `restore differs from the corpus: ${problem}`; }
          }
          runs.push(rec);
          say(`  ${t.id.padEnd(12)} ${op.padEnd(7)} ${m.wall.toFixed(2).padStart(7)} s  cpu ${m.cpu.toFixed(2).padStart(7)} s  rss ${(m.rssKiB / 1024).toFixed(0).padStart(4)} MiB${rec.ok ? '' : `  FAILED: ${rec.error}`}`);
          if (!rec.ok) break;
        }
        if (!o.keep) {
          rmSync(d.repo, { recursive: true, force: true });
          rmSync(d.state, { recursive: true, force: true });
          if (c.kind === 'large') rmSync(d.out, { recursive: true, force: true });
          else keptTrees.push(d.out);
        }
      }
    }
  }

  // Only now remove the many-file restore trees: deleting them between runs would slow the file creation that follows.
  const notes = [];
  if (keptTrees.length) {
    const t0 = performance.now();
    for (const d of keptTrees) rmSync(d, { recursive: true, force: true });
    say(`removed ${keptTrees.length} small-file restore trees in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  if (!o.keep) {
    rmSync(join(workRun, 'repo'), { recursive: true, force: true });
    rmSync(join(workRun, 'state'), { recursive: true, force: true });
    rmSync(restoreBase, { recursive: true, force: true });
  }
  if (which('gpgconf')) spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: gnupgHome } });
  rmSync(secrets, { recursive: true, force: true });
  rmSync(gnupgHome, { recursive: true, force: true });

  const restores = runs.filter((r) => r.op === 'restore');
  const good = restores.filter((r) => r.ok).length;
  const what = o.check === 'count' ? 'file count and bytes' : o.check === 'full' ? 'file count, bytes and every file\'s SHA-256' : 'file count, bytes and the SHA-256 of up to 64 files';
  notes.push(`${good} of ${restores.length} restores reproduced the corpus (checked: ${what}); tools: ${[...new Set(restores.filter((r) => r.ok).map((r) => r.tool))].join(', ')}`);
  const spread = Math.max(...speeds) / Math.min(...speeds);
  if (spread > STEADY_SPREAD) notes.push(`the host's speed moved by ${((spread - 1) * 100).toFixed(0)}% between rounds (SHA-256 on one core, ${speeds.map((x) => x.toFixed(2)).join(', ')} GiB/s): compare tools within a round, or run again on a quieter host`);
  const summary = summarize(runs, corpora);
  const rs = ratios(summary, corpora, runs);
  const command = commandLine();
  const result = {
    benchmark: 'coffer', version: 1, date: new Date().toISOString(), command, cache: /** @type {'cold' | 'warm'} */ (o.cold ? 'cold' : 'warm'),
    machine: machine(workRun, loadBefore, speeds), versions, labels, skipped, rounds: o.rounds, corpora, summary, ratios: rs, runs, logs,
  };
  const nulls = (/** @type {string} */ _k, /** @type {unknown} */ v) => (v === undefined ? null : v);
  writeFileSync(join(workRun, 'result.json'), JSON.stringify(result, nulls, 2) + '\n');
  if (o.json) process.stdout.write(JSON.stringify(result, nulls) + '\n');
  else process.stdout.write(markdown({ ...result, notes }) + '\n');
  say(`logs and result.json in ${workRun}`);
  const failed = runs.filter((r) => !r.ok).length;
  if (failed) say(`${failed} run${failed === 1 ? '' : 's'} failed; see the report`);
  process.exitCode = aborted ? 130 : failed ? 1 : 0;
}

/** The command that reproduces this run, as a user would type it. */
function commandLine() {
  const args = process.argv.slice(2).filter((a) => a !== '--json').map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

/** The message of a `--json` error result (coffer's), if the file holds one. */
function jsonError(/** @type {string} */ file) {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    return r?.error?.message ? `${r.error.message}${r.error.hint ? ` (${r.error.hint})` : ''}` : '';
  } catch {
    return '';
  }
}

/** The error lines of a log (or its last lines), on one line. */
function tail(/** @type {string} */ log) {
  try {
    const lines = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
    const errors = lines.filter((l) => /error|fatal|fail/i.test(l) && !/^\s*[{}"]/.test(l));
    return (errors.length ? errors.slice(0, 2) : lines.slice(-3)).join(' | ').slice(0, 400);
  } catch {
    return '';
  }
}

/**
 * Whether a restore reproduced the corpus: same number of files and bytes,
 * and the same SHA-256 for the sampled files. Returns what differs, or undefined.
 * @param {string} root
 * @param {import('./lib/corpus.mjs').Corpus} c
 * @param {Map<string, string>} expected
 */
async function checkRestore(root, c, expected) {
  if (!existsSync(root)) return `${root} does not exist`;
  const got = await census(root);
  if (got.files !== c.files.length || got.bytes !== c.bytes) return `${got.files} files, ${got.bytes} bytes under ${root}; expected ${c.files.length} files, ${c.bytes} bytes`;
  for (const [p, h] of expected) {
    const f = join(root, p);
    if (!existsSync(f)) return `${p} is missing`;
    if ((await hashFile(f)) !== h) return `${p} has other bytes`;
  }
  return undefined;
}

main().catch((e) => {
  process.stderr.write(`bench: error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
