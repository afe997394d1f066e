import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runRestore } from '../../restore/run.js';
import { verifyStored } from '../../restore/verify.js';
import { compareTrees } from '../../restore/compare.js';
import type { Context } from '../context.js';
import { openForReading, trustKey } from '../open.js';
import type { SetFlags } from '../open.js';
import { printJson, printWarnings, say, warningsJson } from '../output.js';
import { count, formatBytes, parseWorkers } from '../sizes.js';
import { ExitCode, UsageError, ioError } from '../../errors.js';

/**
 * A fresh folder for the drill's restore: in the temporary directory, or
 * inside --scratch. Never --scratch itself, which is removed afterwards
 * and may hold other files.
 */
async function scratchDir(flag: string | undefined): Promise<string> {
  const base = flag ? resolve(flag) : tmpdir();
  const st = await stat(base).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError('scratch-not-directory', `${base} is not a directory`, { hint: 'give --scratch a directory; the drill restores into a new folder inside it' });
  try {
    if (!st) await mkdir(base, { recursive: true });
    return await mkdtemp(join(base, 'coffer-drill-'));
  } catch (err) {
    throw ioError('create a scratch folder in', base, err);
  }
}

/**
 * A disaster-recovery drill: check every volume without the key, restore the
 * whole set to scratch space (authenticating every chunk and hashing every
 * file against the catalog), optionally compare with the live tree, time it,
 * and leave nothing behind unless --keep is given.
 */
export async function drill(targetSpec: string, setArg: string | undefined, flags: SetFlags & { against?: string; scratch?: string; keep?: boolean }, ctx: Context): Promise<number> {
  const started = Date.now();
  const s = await openForReading(targetSpec, setArg, flags);
  const stored = await verifyStored(s.target, s.set, await trustKey(flags.trust), ctx.log, ctx.progress);
  const verifySeconds = (Date.now() - started) / 1000;
  const scratch = await scratchDir(flags.scratch);
  try {
    const r = await runRestore(s, { to: scratch, include: [], log: ctx.log, progress: ctx.progress, ...(flags.workers !== undefined ? { workers: parseWorkers(flags.workers) } : {}) });
    const comparison = flags.against ? await compareTrees(scratch, resolve(flags.against)) : undefined;
    const differs = comparison ? comparison.changed.length + comparison.missing.length + comparison.extra.length : 0;
    const code = r.refused.length ? ExitCode.integrity : r.warnings.count || differs ? ExitCode.warnings : ExitCode.ok;
    // Exit 3 without an exception: main.ts logs nothing, so the documented event is written here.
    if (r.refused.length) ctx.log.error({ event: 'integrity-failure', code: 'path-refused', where: { set: s.set }, refused: r.refused.length }, `set ${s.set}: ${r.refused.length} archive entries refused`);
    const report = {
      ok: code <= 1,
      exitCode: code,
      command: 'drill',
      set: s.set,
      signature: stored.signature,
      volumes: stored.volumes.length,
      storedBytes: stored.bytes,
      verifySeconds,
      restore: { files: r.files, bytes: r.bytes, seconds: r.seconds, bytesPerSecond: r.seconds > 0 ? Math.round(r.bytes / r.seconds) : null, refused: r.refused },
      ...(comparison ? { against: resolve(flags.against!), comparison } : {}),
      scratch: flags.keep ? scratch : null,
      warnings: warningsJson(r.warnings),
      seconds: (Date.now() - started) / 1000,
    };
    ctx.log.info({ event: 'drill-finished', set: s.set, files: r.files, bytes: r.bytes, differs }, 'drill finished');
    if (ctx.json) printJson(report);
    else {
      printWarnings(r.warnings);
      say(`drill of set ${s.set}: ${count(stored.volumes.length, 'volume')} verified in ${verifySeconds.toFixed(1)} s; ${count(r.files, 'file')} (${formatBytes(r.bytes)}) restored and hash-checked in ${r.seconds.toFixed(1)} s`);
      if (comparison) {
        say(`compared with ${resolve(flags.against!)}: ${comparison.same} same, ${comparison.changed.length} changed, ${comparison.missing.length} missing from the backup, ${comparison.extra.length} only in the backup`);
        for (const p of comparison.changed.slice(0, 20)) say(`  changed: ${p}`);
        for (const p of comparison.missing.slice(0, 20)) say(`  not in backup: ${p}`);
        for (const p of comparison.extra.slice(0, 20)) say(`  only in backup: ${p}`);
      }
    }
    return code;
  } finally {
    if (!flags.keep) await rm(scratch, { recursive: true, force: true });
  }
}
