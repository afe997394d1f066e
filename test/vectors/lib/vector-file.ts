/**
 * The vector file format (test/vectors/README.md): a header of `name: value`
 * lines in ASCII, an empty line, then the volume bytes to the end of the file.
 */

export const EXPECTS = ['success', 'header failure', 'key failure', 'chunk failure', 'truncated'] as const;
export type Expect = (typeof EXPECTS)[number];

export interface Vector {
  expect: Expect;
  /** SHA-256 (hex) of the volume's payload; success only. */
  payload?: string;
  /** The set id (text form) the reader expects. */
  set: string;
  /** The volume index the reader expects. */
  volume: number;
  /** The global chunk index the reader expects the volume to start at. */
  firstChunk: number;
  /** Whether the volume must end the set (yes), must not (no), or either (unknown). */
  last: 'yes' | 'no' | 'unknown';
  identities: string[];
  passphrase?: string;
  /** coffer's error code for a failure: informative for other implementations. */
  code?: string;
  comment?: string;
  volumeBytes: Buffer;
}

const ORDER = ['expect', 'payload', 'set', 'volume', 'first chunk', 'last', 'identity', 'passphrase', 'code', 'comment'] as const;

export function formatVector(v: Vector): Buffer {
  const lines: string[] = [];
  const add = (k: (typeof ORDER)[number], value: string | number | undefined) => {
    if (value === undefined) return;
    const text = String(value);
    if (!/^[\x20-\x7e]*$/.test(text)) throw new Error(`${k}: not printable ASCII`);
    lines.push(`${k}: ${text}`);
  };
  add('expect', v.expect);
  add('payload', v.payload);
  add('set', v.set);
  add('volume', v.volume);
  add('first chunk', v.firstChunk);
  add('last', v.last);
  for (const id of v.identities) add('identity', id);
  add('passphrase', v.passphrase);
  add('code', v.code);
  add('comment', v.comment);
  return Buffer.concat([Buffer.from(lines.join('\n') + '\n\n', 'latin1'), v.volumeBytes]);
}

export function parseVector(file: Buffer): Vector {
  const end = file.indexOf('\n\n');
  if (end < 0) throw new Error('no end of header');
  const fields = new Map<string, string[]>();
  for (const line of file.subarray(0, end).toString('latin1').split('\n')) {
    const m = /^([a-z ]+): ([\x20-\x7e]*)$/.exec(line);
    if (!m || !(ORDER as readonly string[]).includes(m[1]!)) throw new Error(`bad header line ${JSON.stringify(line)}`);
    fields.set(m[1]!, [...(fields.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (k: string): string | undefined => {
    const all = fields.get(k);
    if (all && all.length > 1) throw new Error(`${k} given twice`);
    return all?.[0];
  };
  const need = (k: string): string => {
    const value = one(k);
    if (value === undefined) throw new Error(`${k} missing`);
    return value;
  };
  const expect = need('expect') as Expect;
  if (!EXPECTS.includes(expect)) throw new Error(`unknown expect ${expect}`);
  const last = one('last') ?? 'unknown';
  if (last !== 'yes' && last !== 'no' && last !== 'unknown') throw new Error(`bad last ${last}`);
  const payload = one('payload');
  if ((expect === 'success') !== (payload !== undefined)) throw new Error('payload goes with success, and only with it');
  if (payload !== undefined && !/^[0-9a-f]{64}$/.test(payload)) throw new Error('payload is not a SHA-256');
  const passphrase = one('passphrase');
  const code = one('code');
  const comment = one('comment');
  return {
    expect,
    ...(payload !== undefined ? { payload } : {}),
    set: need('set'),
    volume: Number(need('volume')),
    firstChunk: Number(need('first chunk')),
    last,
    identities: fields.get('identity') ?? [],
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(code !== undefined ? { code } : {}),
    ...(comment !== undefined ? { comment } : {}),
    volumeBytes: file.subarray(end + 2),
  };
}
