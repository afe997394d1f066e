/**
 * The fuzz harness: one FuzzTarget per parser of untrusted bytes, run by
 * fast-check from a seed (config.ts), every case guarded by
 *
 *   - a timeout (an awaited hang fails the case) and a watchdog thread (a
 *     synchronous hang or runaway memory kills the process with a report),
 *   - a memory check: no case may grow the resident set by more than the
 *     target's cap, and the heap may not grow by more across the whole run,
 *   - the target's own check, which sees the input and either returns an
 *     outcome label (for the summary) or throws.
 *
 * A failure names the seed and fast-check path that replay it and writes the
 * input to a seed file that can be kept under test/fuzz/seeds/<target>/,
 * where `defineFuzzTarget` replays every kept seed in the normal suite.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, describe, test } from 'vitest';
import { CofferError, TargetError } from '../../../src/errors.js';
import { config, testTimeout } from './config.js';
import { Watchdog } from './watchdog.js';

export const SEEDS_DIR = fileURLToPath(new URL('../seeds', import.meta.url));
const MiB = 2 ** 20;

export interface FuzzTarget<I, P = I> {
  /** Short name: the seeds folder and the test's name. */
  name: string;
  /** The test file, for the replay command line. */
  file: string;
  arbitrary: fc.Arbitrary<I>;
  /**
   * Builds what the case feeds to the code under test (a mutated set, say),
   * before the case's clock and memory watch start.
   */
  prepare?(input: I): Promise<P>;
  /** Runs one case; returns an outcome label (e.g. 'ok' or an error code) or throws. */
  run(prepared: P): Promise<string>;
  /** Cases in the bounded run of the normal suite. */
  boundedRuns: number;
  /** Per-case timeout (default 10 s). */
  caseTimeoutMs?: number;
  /** Largest growth of the resident set within one case (default 256 MiB). */
  rssGrowthCap?: number;
  /** Seed files: how an input is stored and read back. */
  seedExt: string;
  toSeed(input: I): Buffer;
  fromSeed(bytes: Buffer): I;
  /** Runs once before the first case (building fixtures), outside the memory baseline. */
  setup?(): Promise<void>;
}

let watchdog: Watchdog | undefined;
function dog(): Watchdog {
  watchdog ??= new Watchdog();
  return watchdog;
}

/** A V8 gc() for heap measurements (the flag can be turned on at run time). */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

async function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what} did not finish within ${ms} ms (a hang?)`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One case: prepared, then run under the timeout, the watchdog and the memory cap. */
async function runCase<I, P>(t: FuzzTarget<I, P>, input: I, label: string, onTimeout?: () => void): Promise<string> {
  const timeout = t.caseTimeoutMs ?? 10_000;
  const cap = t.rssGrowthCap ?? 256 * MiB;
  const prepared = t.prepare ? await withTimeout(t.prepare(input), timeout, `preparing ${label}`, onTimeout) : (input as unknown as P);
  const rssBefore = process.memoryUsage.rss();
  // The watchdog acts only on what the timeout cannot catch: well past it, or far past the memory cap.
  dog().begin(label, timeout * 3, rssBefore + 4 * cap, t.toSeed(input));
  let outcome: string;
  let peak: number;
  try {
    outcome = await withTimeout(t.run(prepared), timeout, label, onTimeout);
  } finally {
    peak = dog().end();
  }
  if (peak - rssBefore > cap) {
    throw new Error(`${label} grew the resident set by ${Math.round((peak - rssBefore) / MiB)} MiB (cap ${cap / MiB} MiB): an allocation driven by the input?`);
  }
  return outcome;
}

export interface FuzzSummary {
  cases: number;
  seconds: number;
  outcomes: Record<string, number>;
}

/** Runs a target's fuzz cases under the configured budget; throws a replayable failure. */
export async function fuzz<I, P>(t: FuzzTarget<I, P>): Promise<FuzzSummary> {
  await t.setup?.();
  const cap = t.rssGrowthCap ?? 256 * MiB;
  const outcomes: Record<string, number> = {};
  let cases = 0;
  gc();
  const rssBase = process.memoryUsage.rss();
  const heapBase = process.memoryUsage().heapUsed;
  const started = Date.now();
  // A case that timed out may still be running: later cases would time out
  // behind it and shrinking would blame them. So after a timeout every case
  // passes, which ends shrinking at the input that hung.
  let hung = false;
  const property = fc.asyncProperty(t.arbitrary, async (input) => {
    if (hung) return;
    const n = ++cases;
    const outcome = await runCase(t, input, `case ${n} of ${t.name} (seed ${config.seed})`, () => (hung = true));
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  });
  const budgetMs = config.seconds !== undefined ? config.seconds * 1000 : undefined;
  const numRuns = config.runs ?? (budgetMs !== undefined ? 1e9 : t.boundedRuns);
  const details = await fc.check(property, {
    seed: config.seed,
    numRuns,
    ...(config.path ? { path: config.path } : {}),
    ...(budgetMs !== undefined ? { interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false } : {}),
  });
  const seconds = (Date.now() - started) / 1000;
  if (details.failed) throw failure(t, details);
  gc();
  const heapGrowth = process.memoryUsage().heapUsed - heapBase;
  if (heapGrowth > cap) throw new Error(`fuzz target ${t.name}: the heap grew by ${Math.round(heapGrowth / MiB)} MiB over ${cases} cases (seed ${config.seed}): a leak?`);
  const summary = { cases, seconds, outcomes };
  if (config.verbose) {
    const sorted = Object.entries(outcomes).sort((a, b) => b[1] - a[1]);
    console.log(`fuzz ${t.name}: ${cases} cases in ${seconds.toFixed(1)} s, seed ${config.seed}, heap +${Math.round(heapGrowth / MiB)} MiB, rss +${Math.round((process.memoryUsage.rss() - rssBase) / MiB)} MiB\n${sorted.map(([k, v]) => `  ${String(v).padStart(7)}  ${k}`).join('\n')}`);
  }
  return summary;
}

function failure<I, P>(t: FuzzTarget<I, P>, d: fc.RunDetails<[I]>): Error {
  const input = d.counterexample?.[0];
  let saved = '';
  if (input !== undefined) {
    const dir = join(tmpdir(), 'coffer-fuzz-failures');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${t.name}-${d.seed}-${Date.now()}.${t.seedExt}`);
    writeFileSync(file, t.toSeed(input));
    saved = `\nthe input is saved in ${file}; to keep it as a regression seed:\n  cp ${file} test/fuzz/seeds/${t.name}/<what-it-found>.${t.seedExt}`;
  }
  const cause = d.errorInstance;
  const message = cause instanceof Error ? cause.message : String(cause);
  const err = new Error(
    `fuzz target ${t.name} failed after ${d.numRuns} cases (${d.numShrinks} shrinks): ${message}\n` +
      `replay: COFFER_FUZZ_SEED=${d.seed} COFFER_FUZZ_PATH=${d.counterexamplePath ?? ''} COFFER_FUZZ_RUNS=1 npx vitest run ${t.file}` +
      saved +
      `\ninput: ${describeInput(input)}`,
    { cause },
  );
  if (cause instanceof Error && cause.stack) err.stack = `${err.message}\ncaused by: ${cause.stack}`;
  return err;
}

function describeInput(input: unknown): string {
  const text = toJson(input).toString('utf8');
  return text.length > 4000 ? `${text.slice(0, 4000)}... (${text.length} characters)` : text;
}

/** The kept seeds of a target: file names and contents. */
export function keptSeeds(name: string): { file: string; bytes: Buffer }[] {
  const dir = join(SEEDS_DIR, name);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => !f.startsWith('.') && f !== 'README.md').sort();
  } catch {
    return [];
  }
  return files.map((f) => ({ file: f, bytes: readFileSync(join(dir, f)) }));
}

/** Registers the vitest tests of a target: its kept seeds, then the fuzz run. */
export function defineFuzzTarget<I, P = I>(t: FuzzTarget<I, P>): void {
  describe(`fuzz ${t.name}`, () => {
    afterAll(async () => {
      await watchdog?.stop();
      watchdog = undefined;
    });

    const seeds = keptSeeds(t.name);
    if (seeds.length) {
      test.each(seeds.map((s) => [s.file, s.bytes] as const))('seed %s', async (file, bytes) => {
        await t.setup?.();
        await runCase(t, t.fromSeed(bytes), `seed ${file} of ${t.name}`);
      });
    }

    test(`${config.long ? 'long' : 'bounded'} run (seed ${config.seed})`, () => fuzz(t).then(() => undefined), testTimeout());
  });
}

// --- outcome checks -----------------------------------------------------------

/**
 * The label of an expected failure, or a throw when it is not one: anything
 * but a CofferError is a bug, and so is a TargetError that wraps something
 * other than an operating-system error (a TypeError or RangeError from bad
 * input dressed up as an I/O failure).
 */
export function typedOutcome(err: unknown, allowed: (e: CofferError) => boolean = () => true): string {
  if (!(err instanceof CofferError)) {
    const e = err as Error;
    throw new Error(`untyped exception ${e?.name ?? typeof err}: ${e?.message ?? String(err)}`, { cause: err });
  }
  if (err instanceof TargetError) {
    const cause = err.cause as NodeJS.ErrnoException | undefined;
    if (!(cause && typeof cause.code === 'string' && /^E[A-Z]+$/.test(cause.code))) {
      throw new Error(`TargetError ${err.code} that is not an I/O failure: ${err.message}`, { cause: err });
    }
  }
  if (!allowed(err)) throw new Error(`unexpected ${err.name} ${err.code}: ${err.message}`, { cause: err });
  const errno = err instanceof TargetError ? ` (${(err.cause as NodeJS.ErrnoException).code})` : '';
  return `${err.name}:${err.code}${errno}`;
}

// --- seed encoding ------------------------------------------------------------

/** JSON with byte arrays as {"$b64": "..."}, for structured seeds. */
export function toJson(v: unknown): Buffer {
  return Buffer.from(
    JSON.stringify(
      v,
      function (this: unknown, key: string, value: unknown) {
        const raw = (this as Record<string, unknown>)[key];
        if (raw instanceof Uint8Array) return { $b64: Buffer.from(raw).toString('base64') };
        return value;
      },
    ) + '\n',
    'utf8',
  );
}

export function fromJson<T>(b: Buffer): T {
  return JSON.parse(b.toString('utf8'), (_k, v: unknown) => {
    if (v && typeof v === 'object' && typeof (v as { $b64?: unknown }).$b64 === 'string') return new Uint8Array(Buffer.from((v as { $b64: string }).$b64, 'base64'));
    return v;
  }) as T;
}
