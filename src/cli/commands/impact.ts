import { UsageError } from '../../errors.js';
import { impactOf } from '../../set/impact.js';
import type { Context } from '../context.js';
import { openForReading } from '../open.js';
import type { SetFlags } from '../open.js';
import { printJson, say } from '../output.js';
import { formatBytes } from '../sizes.js';

export function parseLost(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim().replace(/^volume-0*/, ''));
  if (!parts.every((p) => /^\d+$/.test(p) && +p >= 1)) throw new UsageError('bad-lost', `--lost ${text} is not a list of volume numbers`, { hint: 'e.g. --lost 3 or --lost 2,5' });
  return [...new Set(parts.map(Number))].sort((a, b) => a - b);
}

export async function impact(targetSpec: string, setArg: string | undefined, flags: SetFlags & { lost: string }, ctx: Context): Promise<number> {
  const lost = parseLost(flags.lost);
  const s = await openForReading(targetSpec, setArg, flags);
  const r = await impactOf(s, lost);
  ctx.log.info({ event: 'impact-report', set: r.set, lost: r.lost, entries: r.entries.length }, 'impact of lost volumes');
  if (ctx.json) printJson({ ok: true, command: 'impact', ...r });
  else {
    for (const e of r.entries) say(e.path);
    process.stderr.write(`coffer: ${r.lost.join(', ')} of set ${r.set} held ${r.entries.length} entries (${formatBytes(r.bytes)})\n`);
  }
  return 0;
}
