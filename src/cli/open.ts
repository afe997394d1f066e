import { loadPublicKey } from '../crypto/identity-file.js';
import { openSet, openSetFromVolumes } from '../set/open-set.js';
import type { OpenedSet } from '../set/open-set.js';
import { resolveSet } from '../set/sets.js';
import { openTarget } from '../targets/target.js';
import type { Target } from '../targets/target.js';
import { readKeySource } from './keys.js';
import type { KeyFlags } from './keys.js';

export interface SetFlags extends KeyFlags {
  trust?: string;
  volumesOnly?: boolean;
  workers?: string;
}

export async function trustKey(path: string | undefined): Promise<Buffer | undefined> {
  return path ? (await loadPublicKey(path)).ed25519 : undefined;
}

export async function openTargetSet(targetSpec: string, set: string | undefined, opts: { allowIncomplete?: boolean } = {}): Promise<{ target: Target; set: string }> {
  const target = await openTarget(targetSpec, { create: false });
  return { target, set: (await resolveSet(target, set, opts)).set };
}

/** Target, set and key: what ls, restore, impact and drill start from. */
export async function openForReading(targetSpec: string, setArg: string | undefined, flags: SetFlags): Promise<OpenedSet> {
  const { target, set } = await openTargetSet(targetSpec, setArg, { allowIncomplete: Boolean(flags.volumesOnly) });
  const keys = await readKeySource(flags);
  if (flags.volumesOnly) return openSetFromVolumes(target, set, keys);
  return openSet(target, set, keys, await trustKey(flags.trust));
}
