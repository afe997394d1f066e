/**
 * uid/gid -> user and group names for tar headers, read once from
 * /etc/passwd and /etc/group (Node has no getpwuid). Names the system does
 * not know are left out; numeric ids are always recorded.
 */
import { readFileSync } from 'node:fs';

function table(path: string): Map<number, string> {
  const map = new Map<number, string>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return map;
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id && /^\d+$/.test(id) && !map.has(+id)) map.set(+id, name);
  }
  return map;
}

export class OwnerNames {
  private users?: Map<number, string>;
  private groups?: Map<number, string>;

  user(uid: number): string | undefined {
    return (this.users ??= table('/etc/passwd')).get(uid);
  }

  group(gid: number): string | undefined {
    return (this.groups ??= table('/etc/group')).get(gid);
  }
}
