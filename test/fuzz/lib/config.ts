/**
 * How long and from where the fuzz targets run, from the environment:
 *
 *   (nothing)              the bounded run of the normal suite: a fixed seed
 *                          and a fixed number of cases per target
 *   COFFER_FUZZ_SECONDS=n  run each target for about n seconds
 *   COFFER_FUZZ_RUNS=n     run each target for n cases (with SECONDS: at most)
 *   COFFER_FUZZ_SEED=s     the fast-check seed (default: fixed in the bounded
 *                          run, random in a long one; printed on failure)
 *   COFFER_FUZZ_PATH=p     with the seed, replay one failing case exactly
 *   COFFER_FUZZ_VERBOSE=1  print a summary of outcomes per target
 */
const env = process.env;

function intFrom(name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, not ${JSON.stringify(v)}`);
  return n;
}

/** The seed of the bounded run: change it only together with the seeds it is known to pass. */
export const FIXED_SEED = 0x0c0ffe12;

const seconds = intFrom('COFFER_FUZZ_SECONDS');
const runs = intFrom('COFFER_FUZZ_RUNS');
const seed = env.COFFER_FUZZ_SEED !== undefined && env.COFFER_FUZZ_SEED !== '' ? Number(env.COFFER_FUZZ_SEED) | 0 : undefined;

export const config = {
  long: seconds !== undefined || runs !== undefined,
  seconds,
  runs,
  seed: seed ?? (seconds !== undefined || runs !== undefined ? (Math.random() * 2 ** 31) | 0 : FIXED_SEED),
  path: env.COFFER_FUZZ_PATH || undefined,
  verbose: Boolean(env.COFFER_FUZZ_VERBOSE) || seconds !== undefined || runs !== undefined,
};

/** vitest's timeout for one fuzz test: its time budget plus room for setup and shrinking. */
export function testTimeout(boundedMs = 120_000): number {
  return config.seconds !== undefined ? config.seconds * 1000 + 300_000 : config.runs !== undefined ? 24 * 3600_000 : boundedMs;
}
