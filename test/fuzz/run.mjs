#!/usr/bin/env node
// The long fuzz run (`npm run fuzz`): every target in test/fuzz for
// COFFER_FUZZ_SECONDS seconds each (default 60), from COFFER_FUZZ_SEED (default:
// a new random seed, printed first so the run can be repeated), then vitest's
// exit code. Arguments go to vitest, e.g. `npm run fuzz -- tar` for one target.
//
//   COFFER_FUZZ_SECONDS=900 npm run fuzz
//   COFFER_FUZZ_SEED=123 COFFER_FUZZ_RUNS=5000 npm run fuzz -- volumes
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const env = { ...process.env };
if (!env.COFFER_FUZZ_SECONDS && !env.COFFER_FUZZ_RUNS) env.COFFER_FUZZ_SECONDS = '60';
if (!env.COFFER_FUZZ_SEED) env.COFFER_FUZZ_SEED = String((Math.random() * 2 ** 31) | 0);
const budget = env.COFFER_FUZZ_RUNS ? `${env.COFFER_FUZZ_RUNS} cases` : `${env.COFFER_FUZZ_SECONDS} s`;
process.stdout.write(`coffer fuzz: seed ${env.COFFER_FUZZ_SEED}, ${budget} per target (repeat with COFFER_FUZZ_SEED=${env.COFFER_FUZZ_SEED})\n`);

const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-')).map((f) => `test/fuzz/${f}`);
const flags = args.filter((a) => a.startsWith('-'));
const r = spawnSync(process.execPath, [vitest, 'run', ...(files.length ? files : ['test/fuzz']), ...flags], { env, stdio: 'inherit' });
const how = r.status === 0 ? 'no failures' : r.signal ? `FAILED (vitest killed by ${r.signal})` : 'FAILED';
process.stdout.write(`coffer fuzz: seed ${env.COFFER_FUZZ_SEED}: ${how}\n`);
process.exitCode = r.status ?? 1;
