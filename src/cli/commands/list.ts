import { readManifest } from '../../set/manifest-io.js';
import { listSets } from '../../set/sets.js';
import { fingerprint } from '../../crypto/identity-file.js';
import { CofferError } from '../../errors.js';
import { openTarget } from '../../targets/target.js';
import type { Context } from '../context.js';
import { printJson, say } from '../output.js';
import { formatBytes } from '../sizes.js';

export async function list(targetSpec: string, ctx: Context): Promise<number> {
  const target = await openTarget(targetSpec, { create: false });
  const rows = [];
  for (const s of await listSets(target)) {
    if (!s.complete) {
      rows.push({ set: s.set, created: s.created.toISOString(), complete: false, label: null, volumes: s.objects.length, bytes: null, signer: null });
      continue;
    }
    try {
      const m = (await readManifest(target, s.set)).header;
      rows.push({ set: s.set, created: m.created, complete: true, label: m.label, volumes: m.volumes.length, bytes: m.volumes.reduce((n, v) => n + v.size, 0), signer: m.signer ? fingerprint(m.signer) : null });
    } catch (err) {
      if (!(err instanceof CofferError)) throw err;
      rows.push({ set: s.set, created: s.created.toISOString(), complete: false, label: null, volumes: s.objects.length, bytes: null, signer: null, error: err.message });
    }
  }
  if (ctx.json) {
    printJson({ ok: true, target: target.display, sets: rows });
  } else if (!rows.length) {
    process.stderr.write(`coffer: no sets in ${target.display}\n`);
  } else {
    for (const r of rows) {
      const state = r.complete ? `${r.volumes} vol ${formatBytes(r.bytes ?? 0)}` : 'INCOMPLETE (no manifest: interrupted or failed)';
      say(`${r.set}  ${state}${r.label ? `  ${r.label}` : ''}${r.signer ? `  signed ${r.signer}` : ''}`);
    }
  }
  return 0;
}
