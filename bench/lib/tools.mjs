// @ts-check
/**
 * The tools under test and how each is run: coffer, restic, borg, duplicity,
 * `tar | zstd | age` and `tar | gpg`. Each runner says which commands its
 * operations are (timed), what must happen before a backup (untimed: repository
 * init), and where a restore puts the corpus, so the harness can check that
 * the restore reproduced it.
 *
 * Every tool backs up the corpus folder `tree` by running in its parent
 * folder, into a repository folder that is new for each run, and restores
 * into a folder that is new for each run. Secrets are generated per
 * benchmark into its work folder. Shell pipelines get their paths as
 * positional parameters, never spliced into the script.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { run } from './measure.mjs';

/**
 * @typedef {import('./measure.mjs').Command} Command
 * @typedef {'backup' | 'verify' | 'restore'} Op
 * @typedef {{ corpusDir: string, tree: string, repo: string, out: string, state: string }} RunDirs
 *   corpusDir: parent of `tree`; repo: new, empty folder; out: restore folder (not yet created);
 *   state: a folder for this run's caches and config (removed with the repo)
 * @typedef {{
 *   id: string, label: string, ops: Op[],
 *   missing: () => string | undefined,
 *   version: () => Promise<string>,
 *   setup: (secrets: string) => Promise<void>,
 *   prepare: (d: RunDirs) => Promise<void>,
 *   command: (op: Op, d: RunDirs) => Command,
 *   restoredRoot: (d: RunDirs) => string,
 *   checkOutput?: (op: Op, stdout: string, corpus: { files: number, bytes: number }) => string | undefined,
 * }} Tool
 */

/** Absolute path of `name` on PATH, or undefined. */
export function which(/** @type {string} */ name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const needs = (/** @type {string[]} */ ...names) => () => {
  const gone = names.filter((n) => !which(n));
  return gone.length ? `not installed: ${gone.join(', ')}` : undefined;
};

const firstLine = (/** @type {string} */ s) => s.trim().split('\n')[0].trim();

/** Where a restore put `tree`: tools keep either the absolute path or the relative one. */
function locate(/** @type {string[]} */ candidates) {
  for (const c of candidates) if (existsSync(c) && statSync(c).isDirectory()) return c;
  return candidates[0];
}
const absoluteOrRelative = (/** @type {RunDirs} */ d) => locate([join(d.out, d.tree.replace(/^\/+/, '')), join(d.out, 'tree')]);

/** A passphrase file (0600) holding a fresh random passphrase. */
function passphraseFile(/** @type {string} */ secrets, /** @type {string} */ name) {
  const p = join(secrets, name);
  if (!existsSync(p)) writeFileSync(p, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  return p;
}

/**
 * A coffer variant: `flags` go to every coffer command (backup, verify,
 * restore) except `KEY=VALUE` words, which become environment variables; e.g.
 * `w1=--workers 1` or `w1=COFFER_WORKERS=1`.
 * @typedef {{ name: string, flags: string[], env: Record<string, string> }} CofferVariant
 */
export function parseVariant(/** @type {string} */ spec) {
  const eq = spec.indexOf('=');
  const name = spec.slice(0, eq);
  if (eq <= 0 || !/^[\w.-]+$/.test(name)) throw new Error(`--coffer-variant wants NAME=FLAGS (NAME of letters, digits, ., -, _), not ${spec}`);
  /** @type {CofferVariant} */
  const v = { name, flags: [], env: {} };
  for (const w of spec.slice(eq + 1).split(' ').filter(Boolean)) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (m) v.env[m[1]] = m[2]; else v.flags.push(w);
  }
  return v;
}

/**
 * @param {{ cofferBin: string, cofferFlags: string[], cofferVariants: CofferVariant[], gnupgHome: string }} o
 * @returns {Tool[]}
 */
export function tools({ cofferBin, cofferFlags, cofferVariants, gnupgHome }) {
  let secrets = '';
  let agePub = '';
  const secret = (/** @type {string} */ name) => readFileSync(join(secrets, name), 'utf8').trim();
  const gpgEnv = { GNUPGHOME: gnupgHome };

  /** @returns {Tool} */
  const cofferTool = (/** @type {CofferVariant} */ v) => ({
    id: v.name ? `coffer:${v.name}` : 'coffer',
    label: v.name ? `coffer ${v.name} (${[...Object.entries(v.env).map(([k, x]) => `${k}=${x}`), ...v.flags].join(' ')})` : 'coffer',
    ops: ['backup', 'verify', 'restore'],
    missing: () => (existsSync(resolve(cofferBin, '../../dist/cli/main.js')) ? undefined : 'dist/ is not built: run `npm run build`'),
    version: async () => {
      const version = firstLine(await run({ cmd: process.execPath, args: [cofferBin, '--version'] }));
      let git = '';
      try {
        git = firstLine(await run({ cmd: 'git', args: ['-C', resolve(cofferBin, '../..'), 'describe', '--always', '--dirty', '--abbrev=10'] }));
      } catch {
        // not a git checkout
      }
      return `coffer ${version}${git ? ` (git ${git})` : ''}`;
    },
    setup: async (s) => {
      secrets = s;
      if (!existsSync(join(s, 'coffer-id'))) await run({ cmd: process.execPath, args: [cofferBin, 'keygen', '--out', join(s, 'coffer-id')] });
    },
    prepare: async () => {},
    // --json so the harness can check what verify says it read (see checkOutput). Run as the
    // executable, as a user runs it, so the node flags in its launcher line apply.
    command: (op, d) => {
      const id = join(secrets, 'coffer-id');
      const base = { cmd: cofferBin, cwd: d.corpusDir, env: v.env };
      if (op === 'backup') return { ...base, args: ['backup', d.tree, '--to', d.repo, '--recipient', `${id}.pub`, '--sign-key', id, '--json', ...cofferFlags, ...v.flags] };
      if (op === 'verify') return { ...base, args: ['verify', d.repo, '--identity', id, '--json', ...v.flags] };
      return { ...base, args: ['restore', d.repo, '--to', d.out, '--identity', id, '--json', ...v.flags] };
    },
    checkOutput: (op, stdout, corpus) => {
      /** @type {{ files?: number, bytes?: number, sourceBytes?: number }} */
      let r;
      try {
        r = JSON.parse(stdout);
      } catch {
        return 'its --json output is not one JSON object';
      }
      const bytes = op === 'backup' ? r.sourceBytes : r.bytes;
      if (r.files !== corpus.files || bytes !== corpus.bytes) return `coffer ${op} reports ${r.files} files, ${bytes} bytes; the corpus has ${corpus.files}, ${corpus.bytes}`;
      return undefined;
    },
    restoredRoot: absoluteOrRelative,
  });
  const coffers = [cofferTool({ name: '', flags: [], env: {} }), ...cofferVariants.map(cofferTool)];

  /** @type {Tool} */
  const restic = {
    id: 'restic',
    label: 'restic',
    ops: ['backup', 'restore'],
    missing: needs('restic'),
    version: async () => firstLine(await run({ cmd: 'restic', args: ['version'] })).replace(/ compiled.*/, ''),
    setup: async (s) => { secrets = s; passphraseFile(s, 'restic-pass'); },
    // RESTIC_CACHE_DIR in the run's state folder: restic keeps its usual local cache, but a fresh one per run.
    prepare: async (d) => { await run({ ...resticBase(d), args: ['-r', d.repo, '--password-file', join(secrets, 'restic-pass'), 'init'] }); },
    command: (op, d) => {
      const common = ['-r', d.repo, '--password-file', join(secrets, 'restic-pass')];
      if (op === 'backup') return { ...resticBase(d), args: [...common, 'backup', 'tree'], cwd: d.corpusDir };
      return { ...resticBase(d), args: [...common, 'restore', 'latest', '--target', d.out] };
    },
    restoredRoot: absoluteOrRelative,
  };
  const resticBase = (/** @type {RunDirs} */ d) => ({ cmd: 'restic', args: [], env: { RESTIC_CACHE_DIR: join(d.state, 'cache') } });

  /** @type {Tool} */
  const borg = {
    id: 'borg',
    label: 'borg',
    ops: ['backup', 'restore'],
    missing: needs('borg'),
    version: async () => firstLine(await run({ cmd: 'borg', args: ['--version'] })),
    setup: async (s) => { secrets = s; passphraseFile(s, 'borg-pass'); },
    prepare: async (d) => { await run({ cmd: 'borg', args: ['init', '--encryption=repokey', d.repo], env: borgEnv(d) }); },
    command: (op, d) => {
      if (op === 'backup') return { cmd: 'borg', args: ['create', '--compression', 'lz4', `${d.repo}::bench`, 'tree'], cwd: d.corpusDir, env: borgEnv(d) };
      mkdirSync(d.out, { recursive: true });
      return { cmd: 'borg', args: ['extract', `${d.repo}::bench`], cwd: d.out, env: borgEnv(d) };
    },
    restoredRoot: (d) => join(d.out, 'tree'),
  };
  // BORG_BASE_DIR keeps borg's config, cache and security folders per run.
  const borgEnv = (/** @type {RunDirs} */ d) => ({ BORG_BASE_DIR: join(d.state, 'borg'), BORG_PASSPHRASE: secret('borg-pass') });

  /** @type {Tool} */
  const duplicity = {
    id: 'duplicity',
    label: 'duplicity',
    ops: ['backup', 'restore'],
    missing: needs('duplicity', 'gpg'),
    version: async () => firstLine(await run({ cmd: 'duplicity', args: ['--version'] })),
    setup: async (s) => { secrets = s; passphraseFile(s, 'duplicity-pass'); },
    prepare: async () => {},
    command: (op, d) => {
      // duplicity takes a symmetric passphrase from the environment (PASSPHRASE) only.
      const env = { ...gpgEnv, PASSPHRASE: secret('duplicity-pass') };
      const common = ['--archive-dir', join(d.state, 'archive'), '--name', 'bench'];
      if (op === 'backup') return { cmd: 'duplicity', args: ['full', ...common, 'tree', `file://${d.repo}`], cwd: d.corpusDir, env };
      return { cmd: 'duplicity', args: ['restore', ...common, `file://${d.repo}`, d.out], env };
    },
    restoredRoot: (d) => d.out,
  };

  /** @type {Tool} */
  const tarZstdAge = {
    id: 'tar-zstd-age',
    label: 'tar | zstd -1 -T0 | age',
    ops: ['backup', 'restore'],
    missing: needs('tar', 'zstd', 'age', 'age-keygen', 'bash'),
    version: async () => {
      const age = firstLine(await run({ cmd: 'age', args: ['--version'] })).replace(/^v/, '');
      const zstd = firstLine(await run({ cmd: 'zstd', args: ['--version'] })).replace(/^\*+\s*Zstandard CLI \(\d+-bit\) v([\d.]+).*/, '$1');
      return `age ${age}, zstd ${zstd}`;
    },
    setup: async (s) => {
      secrets = s;
      const key = join(s, 'age-key');
      if (!existsSync(key)) await run({ cmd: 'age-keygen', args: ['-o', key] });
      agePub = firstLine(await run({ cmd: 'age-keygen', args: ['-y', key] }));
    },
    prepare: async () => {},
    command: (op, d) => {
      const archive = join(d.repo, 'backup.tar.zst.age');
      if (op === 'backup') {
        return { cmd: 'bash', args: ['-c', 'set -o pipefail; tar -C "$1" -cf - tree | zstd -1 -T0 -q | age -r "$2" > "$3"', 'bench', d.corpusDir, agePub, archive] };
      }
      mkdirSync(d.out, { recursive: true });
      return { cmd: 'bash', args: ['-c', 'set -o pipefail; age -d -i "$1" "$2" | zstd -d -q | tar -C "$3" -xf -', 'bench', join(secrets, 'age-key'), archive, d.out] };
    },
    restoredRoot: (d) => join(d.out, 'tree'),
  };

  /** @type {Tool} */
  const tarGpg = {
    id: 'tar-gpg',
    label: 'tar | gpg --symmetric',
    ops: ['backup', 'restore'],
    missing: needs('tar', 'gpg', 'bash'),
    version: async () => firstLine(await run({ cmd: 'gpg', args: ['--version'], env: gpgEnv })).replace(/^gpg \(GnuPG\)/, 'gpg'),
    setup: async (s) => { secrets = s; passphraseFile(s, 'gpg-pass'); },
    prepare: async () => {},
    command: (op, d) => {
      const archive = join(d.repo, 'backup.tar.gpg');
      const gpg = 'gpg --batch --quiet --yes --pinentry-mode loopback --passphrase-file "$2"';
      if (op === 'backup') {
        return { cmd: 'bash', args: ['-c', `set -o pipefail; tar -C "$1" -cf - tree | ${gpg} --symmetric --cipher-algo AES256 > "$3"`, 'bench', d.corpusDir, join(secrets, 'gpg-pass'), archive], env: gpgEnv };
      }
      mkdirSync(d.out, { recursive: true });
      return { cmd: 'bash', args: ['-c', `set -o pipefail; ${gpg} --decrypt "$3" | tar -C "$1" -xf -`, 'bench', d.out, join(secrets, 'gpg-pass'), archive], env: gpgEnv };
    },
    restoredRoot: (d) => join(d.out, 'tree'),
  };

  return [...coffers, restic, borg, duplicity, tarZstdAge, tarGpg];
}

export const TOOL_IDS = ['coffer', 'restic', 'borg', 'duplicity', 'tar-zstd-age', 'tar-gpg'];
export const TOOL_ALIASES = /** @type {Record<string, string>} */ ({ age: 'tar-zstd-age', zstd: 'tar-zstd-age', gpg: 'tar-gpg' });
