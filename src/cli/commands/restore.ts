import { runRestore } from '../../restore/run.js';
import type { Context } from '../context.js';
import { openForReading } from '../open.js';
import type { SetFlags } from '../open.js';
import { printJson, printWarnings, say, warningsJson } from '../output.js';
import { count, formatBytes, parseWorkers } from '../sizes.js';
import { ExitCode } from '../../errors.js';

export async function restore(targetSpec: string, setArg: string | undefined, flags: SetFlags & { to: string; include?: string[] }, ctx: Context): Promise<number> {
  const s = await openForReading(targetSpec, setArg, flags);
  const r = await runRestore(s, { to: flags.to, include: flags.include ?? [], log: ctx.log, progress: ctx.progress, ...(flags.workers !== undefined ? { workers: parseWorkers(flags.workers) } : {}) });
  // A refused entry means the set holds something coffer never writes: report it as an integrity failure.
  const code = r.refused.length ? ExitCode.integrity : r.warnings.count ? ExitCode.warnings : ExitCode.ok;
  // Exit 3 without an exception: main.ts logs nothing, so the documented event is written here.
  if (r.refused.length) ctx.log.error({ event: 'integrity-failure', code: 'path-refused', where: { set: r.set }, refused: r.refused.length }, `set ${r.set}: ${r.refused.length} archive entries refused`);
  if (ctx.json) {
    printJson({ ok: code <= 1, exitCode: code, command: 'restore', set: r.set, to: r.to, entries: r.entries, files: r.files, bytes: r.bytes, refused: r.refused, seconds: r.seconds, warnings: warningsJson(r.warnings) });
  } else {
    printWarnings(r.warnings);
    for (const x of r.refused) process.stderr.write(`coffer: error: refused ${JSON.stringify(x.path)}: ${x.reason}\n`);
    say(`set ${r.set}: restored ${count(r.files, 'file')} (${formatBytes(r.bytes)}) to ${r.to} in ${r.seconds.toFixed(1)} s${r.refused.length ? `, ${r.refused.length} entries refused` : ''}`);
  }
  return code;
}
