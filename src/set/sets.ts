/**
 * Sets in a target: one folder per set id. A folder with a manifest is a
 * complete set; one without is an interrupted or failed backup and is never
 * chosen as "the newest set".
 */
import { UsageError } from '../errors.js';
import { parseSetIdText, setIdTime } from '../format/set-id.js';
import type { Target } from '../targets/target.js';
import { MANIFEST_NAME } from './manifest-io.js';

export interface SetListing {
  set: string;
  created: Date;
  complete: boolean;
  objects: string[];
}

export async function listSets(target: Target): Promise<SetListing[]> {
  const names = await target.list('');
  const bySet = new Map<string, string[]>();
  for (const name of names) {
    const [folder, object, ...deeper] = name.split('/');
    if (!folder || !object || deeper.length || !parseSetIdText(folder)) continue;
    (bySet.get(folder) ?? bySet.set(folder, []).get(folder)!).push(object);
  }
  return [...bySet.entries()]
    .map(([set, objects]) => ({ set, created: setIdTime(parseSetIdText(set)!), complete: objects.includes(MANIFEST_NAME), objects }))
    .sort((a, b) => (a.set < b.set ? -1 : a.set > b.set ? 1 : 0));
}

/** The set named, or the newest complete set. */
export async function resolveSet(target: Target, requested: string | undefined, opts: { allowIncomplete?: boolean } = {}): Promise<SetListing> {
  const sets = await listSets(target);
  if (requested !== undefined) {
    const found = sets.find((s) => s.set === requested);
    if (!found) throw new UsageError('set-not-found', `no set ${requested} in ${target.display}`, { hint: `run: coffer list ${target.display}` });
    return found;
  }
  const candidates = opts.allowIncomplete ? sets : sets.filter((s) => s.complete);
  const newest = candidates[candidates.length - 1];
  if (!newest) throw new UsageError('no-sets', `no complete set in ${target.display}`, { hint: 'run a backup first, or name the set' });
  return newest;
}
