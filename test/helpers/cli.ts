/**
 * Running the real `bin/coffer` for end-to-end tests: a child process per
 * command, a clean environment (no COFFER_* leaking in from the caller),
 * temporary folders under os.tmpdir() removed after the file's tests, and
 * helpers that read what coffer wrote (set folders, the plaintext manifest
 * header, volume frames) so tests can tamper with it byte by byte. Fault
 * tests also start coffer without waiting (to kill it), run it as another
 * user, and read its --log-file.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(REPO, 'bin', 'coffer');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  args: string[];
}

export interface RunOptions {
  /** Added to a clean environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run as this user and group (tests run as root; an unprivileged user meets permissions). */
  uid?: number;
  gid?: number;
}

function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COFFER_') && v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `node bin/coffer ARGS...` and collects its exit code and output. */
export async function coffer(args: string[], opts: RunOptions = {}): Promise<Run> {
  const r = await startCoffer(args, opts).done;
  if (r.code === null) throw new Error(`coffer ${args.join(' ')} killed by ${r.signal}`);
  return { ...r, code: r.code };
}

export interface Started {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Settles when the process has exited and its output is closed; `code` is null when a signal ended it. */
  done: Promise<Omit<Run, 'code'> & { code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node bin/coffer ARGS...` without waiting, for tests that signal or kill it. */
export function startCoffer(args: string[], opts: RunOptions = {}): Started {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? REPO,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  const done = new Promise<Awaited<Started['done']>>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), args });
    });
  });
  return { child, done };
}

/**
 * The names an object in a JSON text repeats, at any depth. JSON.parse keeps
 * the last of them silently; other parsers (and the people reading) may not.
 */
export function duplicateJsonKeys(text: string): string[] {
  const out: string[] = [];
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') stack.push(new Set());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const keys = stack[stack.length - 1];
      let k = j + 1;
      while (text[k] === ' ') k++;
      if (keys && text[k] === ':') {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) out.push(key);
        keys.add(key);
      }
      i = j;
    }
  }
  return out;
}

/** The JSON lines of a --log-file, parsed: every line must be one JSON object without repeated keys. */
export async function readLog(file: string): Promise<Record<string, any>[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : Promise.reject(err)));
  return text.split('\n').filter((l) => l !== '').map((l, i) => {
    let v: Record<string, any>;
    try {
      v = JSON.parse(l) as Record<string, any>;
    } catch {
      return expect.fail(`line ${i + 1} of ${file} is not JSON: ${l}`);
    }
    const dup = duplicateJsonKeys(l);
    if (dup.length) expect.fail(`line ${i + 1} of ${file} repeats ${dup.map((k) => JSON.stringify(k)).join(', ')}: ${l}`);
    return v;
  });
}

function describeRun(r: Run): string {
  return `coffer ${r.args.join(' ')}\nexit ${r.code}\n--- stdout\n${r.stdout.slice(0, 4000)}\n--- stderr\n${r.stderr.slice(0, 4000)}`;
}

/** Asserts exit 0 (or `code`) and returns the run. */
export function expectExit(r: Run, code: number): Run {
  if (r.code !== code) expect.fail(`expected exit ${code}\n${describeRun(r)}`);
  return r;
}

export async function ok(args: string[], opts: RunOptions = {}): Promise<Run> {
  return expectExit(await coffer(args, opts), 0);
}

/** stdout of a --json run: exactly one JSON object and nothing else. */
export function json(r: Run): any {
  let v: unknown;
  try {
    v = JSON.parse(r.stdout);
  } catch {
    expect.fail(`stdout is not one JSON object\n${describeRun(r)}`);
  }
  expect(typeof v === 'object' && v !== null && !Array.isArray(v), 'stdout is a JSON object').toBe(true);
  return v;
}

/**
 * A failed run: the exit code, no stack trace, and exactly one
 * `coffer: error: ...` line on stderr (optionally followed by one
 * `coffer: hint: ...` line). Each of `patterns` must occur in the error
 * line. Returns the error line without its prefix.
 */
export function expectError(r: Run, code: number, ...patterns: (string | RegExp)[]): string {
  expectExit(r, code);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const errors = lines.filter((l) => l.startsWith('coffer: error: '));
  if (errors.length !== 1) expect.fail(`expected exactly one error line\n${describeRun(r)}`);
  const others = lines.filter((l) => !l.startsWith('coffer: error: '));
  if (others.length > 1 || others.some((l) => !l.startsWith('coffer: hint: '))) expect.fail(`unexpected stderr lines besides the error\n${describeRun(r)}`);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const line = errors[0]!.slice('coffer: error: '.length);
  for (const p of patterns) {
    if (typeof p === 'string') expect(line, describeRun(r)).toContain(p);
    else expect(line, describeRun(r)).toMatch(p);
  }
  return line;
}

/** A failed --json run: one JSON object with ok false and the exit code; returns the error object. */
export function expectJsonError(r: Run, code: number) {
  expectExit(r, code);
  const v = json(r);
  expect(v.ok).toBe(false);
  expect(v.exitCode).toBe(code);
  expect(typeof v.error?.message).toBe('string');
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return v.error as { code: string; message: string; hint?: string; where: { set?: string; volume?: string; chunk?: number; path?: string } };
}

const temps: string[] = [];
let registered = false;

/** Registers the cleanup of tempDir folders; call once at the top level of each test file. */
export function useTempDirs(): void {
  if (registered) return;
  registered = true;
  afterAll(async () => {
    for (const d of temps.splice(0)) await rm(d, { recursive: true, force: true });
  });
}

/** A fresh folder under os.tmpdir(), removed after the file's tests (see useTempDirs). */
export async function tempDir(label = 'e2e'): Promise<string> {
  if (!registered) throw new Error('call useTempDirs() at the top level of the test file');
  const d = await mkdtemp(join(tmpdir(), `coffer-${label}-`));
  temps.push(d);
  return d;
}

export interface Keys {
  identity: string;
  pub: string;
}

/** `coffer keygen --out DIR/NAME`: an identity (0600) and NAME.pub. */
export async function keygen(dir: string, name: string, extra: string[] = [], opts: RunOptions = {}): Promise<Keys> {
  const identity = join(dir, name);
  await ok(['keygen', '--out', identity, ...extra], opts);
  return { identity, pub: `${identity}.pub` };
}

/** Set folders in a local target, oldest first. */
export async function setsIn(target: string): Promise<string[]> {
  return (await readdir(target)).filter((n) => /^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{16}$/.test(n)).sort();
}

/** The one set in a target. */
export async function onlySet(target: string): Promise<string> {
  const sets = await setsIn(target);
  expect(sets).toHaveLength(1);
  return sets[0]!;
}

export interface ManifestVolume {
  index: number;
  name: string;
  size: number;
  sha256: string;
  firstChunk: number;
  dataChunks: number;
}

export interface ManifestHeaderJson {
  set: string;
  label: string;
  chunkSize: number;
  volumes: ManifestVolume[];
  tarBytes: number;
  signer: string | null;
}

/** The manifest's plaintext JSON header and where it lies in the file (magic 8, version 2, length 4, JSON). */
export async function readManifestHeader(setDir: string): Promise<{ header: ManifestHeaderJson; jsonStart: number; jsonEnd: number; bytes: Buffer }> {
  const bytes = await readFile(join(setDir, 'manifest'));
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('coffer\0M');
  const length = bytes.readUInt32BE(10);
  const header = JSON.parse(bytes.subarray(14, 14 + length).toString('utf8')) as ManifestHeaderJson;
  return { header, jsonStart: 14, jsonEnd: 14 + length, bytes };
}

export interface Frame {
  /** Offset of the frame's 4-byte length prefix in the volume. */
  offset: number;
  /** Length of the sealed body after the prefix. */
  length: number;
  /** Global chunk index (header's first chunk + position). */
  chunk: number;
}

/** A volume's layout: header length and its chunk frames (the last is the end chunk). */
export function volumeFrames(v: Buffer): { headerLength: number; firstChunk: number; frames: Frame[] } {
  expect(v.subarray(0, 8).toString('latin1')).toBe('coffer\0V');
  const headerLength = v.readUInt32BE(10);
  const firstChunk = Number(v.readBigUInt64BE(34));
  const frames: Frame[] = [];
  let at = headerLength;
  while (at < v.length) {
    const length = v.readUInt32BE(at);
    frames.push({ offset: at, length, chunk: firstChunk + frames.length });
    at += 4 + length;
  }
  expect(at).toBe(v.length);
  return { headerLength, firstChunk, frames };
}

export function volumeName(n: number): string {
  return `volume-${String(n).padStart(6, '0')}`;
}
