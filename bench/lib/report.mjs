// @ts-check
/**
 * Turns the raw runs into medians, the ratios issue 4 asks for, a markdown
 * report (ready for docs/PERFORMANCE.md) and one JSON object.
 *
 * Conventions: MB = 10^6 bytes, MiB = 2^20 bytes; "peer/coffer" is the
 * peer's median wall time divided by coffer's on the same corpus and
 * operation, so above 1 means coffer is faster. Medians are taken per
 * (corpus, tool, operation) over the rounds that succeeded.
 */

/**
 * @typedef {{ corpus: string, tool: string, op: string, round: number, wall: number, user: number, sys: number, cpu: number, rssKiB: number, exitCode: number, storedBytes?: number, check?: string, ok: boolean, error?: string }} RunRecord
 * @typedef {{ key: string, label: string, kind: 'large' | 'small', scale: number, files: number, folders: number, bytes: number, digest: string, textRatio?: number }} CorpusInfo
 * @typedef {{ corpus: string, tool: string, op: string, n: number, wall: { median: number, min: number, max: number }, cpu: number, rssMiB: number, rssMaxMiB: number, mbPerSec: number, filesPerSec: number, storedBytes?: number, vsCoffer?: number }} Summary
 * @typedef {{ name: string, measured: number | undefined, goal: string, met: boolean | undefined, note?: string }} Ratio
 */

export function median(/** @type {number[]} */ xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * @param {RunRecord[]} runs
 * @param {CorpusInfo[]} corpora
 * @returns {Summary[]}
 */
export function summarize(runs, corpora) {
  /** @type {Map<string, RunRecord[]>} */
  const groups = new Map();
  for (const r of runs) {
    if (!r.ok) continue;
    const k = `${r.corpus}\0${r.tool}\0${r.op}`;
    const g = groups.get(k);
    if (g) g.push(r); else groups.set(k, [r]);
  }
  /** @type {Summary[]} */
  const out = [];
  for (const [k, g] of groups) {
    const [corpus, tool, op] = k.split('\0');
    const c = /** @type {CorpusInfo} */ (corpora.find((x) => x.key === corpus));
    const wall = median(g.map((r) => r.wall));
    const stored = g.map((r) => r.storedBytes).filter((x) => x !== undefined);
    out.push({
      corpus, tool, op, n: g.length,
      wall: { median: wall, min: Math.min(...g.map((r) => r.wall)), max: Math.max(...g.map((r) => r.wall)) },
      cpu: median(g.map((r) => r.cpu)),
      rssMiB: median(g.map((r) => r.rssKiB)) / 1024,
      rssMaxMiB: Math.max(...g.map((r) => r.rssKiB)) / 1024,
      mbPerSec: c.bytes / 1e6 / wall,
      filesPerSec: c.files / wall,
      ...(stored.length ? { storedBytes: median(/** @type {number[]} */ (stored)) } : {}),
    });
  }
  for (const s of out) {
    const ref = out.find((x) => x.corpus === s.corpus && x.tool === 'coffer' && x.op === s.op);
    if (ref && s.tool !== 'coffer') s.vsCoffer = s.wall.median / ref.wall.median;
  }
  return out;
}

/**
 * The targets of issue 4, each as measured / goal / met.
 * @param {Summary[]} sum
 * @param {CorpusInfo[]} corpora
 * @param {RunRecord[]} runs
 * @returns {Ratio[]}
 */
export function ratios(sum, corpora, runs) {
  /** @type {Ratio[]} */
  const out = [];
  const get = (/** @type {string} */ corpus, /** @type {string} */ tool, /** @type {string} */ op) => sum.find((s) => s.corpus === corpus && s.tool === tool && s.op === op);
  const base = corpora.filter((c) => c.scale === 1);
  for (const c of base) {
    const peer = c.kind === 'large' ? 'tar-zstd-age' : 'restic';
    const goal = c.kind === 'large' ? 1.0 : 2.0;
    for (const op of ['backup', 'restore']) {
      const p = get(c.key, peer, op), me = get(c.key, 'coffer', op);
      const v = p && me ? p.wall.median / me.wall.median : undefined;
      out.push({ name: `${c.label}: ${op}, ${LABELS[peer]} time / coffer time`, measured: v, goal: `>= ${goal.toFixed(1)}x`, met: v === undefined ? undefined : v >= goal });
    }
    const v = get(c.key, 'coffer', 'verify'), r = get(c.key, 'coffer', 'restore');
    const vr = v && r ? r.wall.median / v.wall.median : undefined;
    out.push({ name: `${c.label}: coffer restore time / coffer verify (keyed) time`, measured: vr, goal: '>= 1.0x', met: vr === undefined ? undefined : vr >= 1 });
  }
  const cofferRuns = runs.filter((r) => r.ok && r.tool === 'coffer');
  if (cofferRuns.length) {
    const peak = Math.max(...cofferRuns.map((r) => r.rssKiB)) / 1024;
    const worst = cofferRuns.find((r) => r.rssKiB / 1024 === peak);
    out.push({ name: 'coffer peak RSS, largest of every run', measured: peak, goal: '<= 256 MiB', met: peak <= 256, note: worst ? `${worst.op}, ${corpora.find((c) => c.key === worst.corpus)?.label}` : undefined });
  }
  for (const c of corpora.filter((x) => x.scale > 1)) {
    const b = base.find((x) => x.kind === c.kind);
    if (!b) continue;
    for (const op of ['backup', 'verify', 'restore']) {
      const big = get(c.key, 'coffer', op), small = get(b.key, 'coffer', op);
      const g = big && small ? big.rssMiB / small.rssMiB : undefined;
      out.push({ name: `coffer ${op} peak RSS, ${c.label} / ${b.label}`, measured: g, goal: '<= 1.10x', met: g === undefined ? undefined : g <= 1.1 });
    }
  }
  if (!corpora.some((c) => c.scale > 1)) out.push({ name: 'coffer peak RSS growth with a 4x corpus', measured: undefined, goal: '<= 1.10x', met: undefined, note: 'not measured: run with --scale 4' });
  return out;
}

const LABELS = /** @type {Record<string, string>} */ ({
  coffer: 'coffer',
  restic: 'restic',
  borg: 'borg (repokey, lz4)',
  duplicity: 'duplicity',
  'tar-zstd-age': '`tar | zstd -1 -T0 | age`',
  'tar-gpg': '`tar | gpg --symmetric`',
});

/** A table cell: pipes escaped (GitHub tables need that even inside code spans). */
const cell = (/** @type {string} */ x) => x.replace(/\|/g, '\\|');
const f1 = (/** @type {number} */ x) => x.toFixed(x < 10 ? 2 : 1);
const int = (/** @type {number} */ x) => Math.round(x).toLocaleString('en-US');
const mb = (/** @type {number} */ x) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} GB` : `${(x / 1e6).toFixed(x >= 1e8 ? 0 : 1)} MB`);
const size = (/** @type {number} */ x) => (x >= 1024 ** 3 ? `${+(x / 1024 ** 3).toFixed(2)} GiB` : `${+(x / 1024 ** 2).toFixed(1)} MiB`);

/**
 * @param {{ machine: Record<string, string>, versions: Record<string, string>, labels: Record<string, string>, command: string, cache?: 'warm' | 'cold', corpora: CorpusInfo[], summary: Summary[], ratios: Ratio[], runs: RunRecord[], rounds: number, skipped: Record<string, string>, notes: string[] }} r
 */
export function markdown(r) {
  const L = [];
  L.push(`## Benchmark, ${new Date().toISOString().slice(0, 10)}`, '');
  L.push(`Reproduce: \`${r.command}\``, '');
  L.push('| machine | |', '| --- | --- |');
  for (const [k, v] of Object.entries(r.machine)) L.push(`| ${k} | ${v} |`);
  L.push(`| tools | ${Object.values(r.versions).join('; ')} |`);
  for (const [k, v] of Object.entries(r.skipped)) L.push(`| skipped | ${k}: ${v} |`);
  L.push('');
  L.push('| corpus | files | folders | size | content | sha256 of paths, sizes, bytes |', '| --- | --- | --- | --- | --- | --- |');
  for (const c of r.corpora) {
    const content = c.kind === 'large'
      ? `half random, half text${c.textRatio ? ` (text: ${c.textRatio.toFixed(2)}x with zstd -1)` : ''}`
      : 'each file text or random, 1-16 KiB';
    L.push(`| ${c.label} | ${int(c.files)} | ${int(c.folders)} | ${size(c.bytes)} (${mb(c.bytes)}) | ${content} | \`${c.digest.slice(0, 16)}\` |`);
  }
  L.push('');
  L.push(`Medians of ${r.rounds} round${r.rounds === 1 ? '' : 's'} (tools interleaved, order rotated each round), ${r.cache === 'cold' ? 'page cache dropped before every operation (--cold)' : 'warm page cache'}, a fresh repository each run. ` +
    'Wall time with min-max; CPU = user + sys of the whole process tree; peak RSS = the largest single process; ' +
    'MB = 10^6 bytes of corpus per second of wall time; peer/coffer = the peer\'s wall time divided by coffer\'s (above 1: coffer is faster).', '');
  for (const c of r.corpora) {
    const rows = r.summary.filter((s) => s.corpus === c.key);
    if (!rows.length) continue;
    L.push(`### ${c.label}`, '');
    L.push('| tool | operation | wall s (min-max) | MB/s | files/s | CPU s | CPU/wall | peak RSS MiB | stored | peer/coffer |');
    L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const order = ['coffer', 'tar-zstd-age', 'restic', 'borg', 'duplicity', 'tar-gpg'];
    const ops = ['backup', 'verify', 'restore'];
    const rank = (/** @type {string} */ t) => (t.startsWith('coffer:') ? 0.5 : order.indexOf(t));
    rows.sort((a, b) => rank(a.tool) - rank(b.tool) || a.tool.localeCompare(b.tool) || ops.indexOf(a.op) - ops.indexOf(b.op));
    for (const s of rows) {
      L.push(`| ${cell(LABELS[s.tool] ?? r.labels[s.tool] ?? s.tool)} | ${s.op} | ${f1(s.wall.median)} (${f1(s.wall.min)}-${f1(s.wall.max)}) | ${int(s.mbPerSec)} | ${int(s.filesPerSec)} | ${f1(s.cpu)} | ${(s.cpu / s.wall.median).toFixed(2)} | ${int(s.rssMiB)} | ${s.storedBytes !== undefined ? mb(s.storedBytes) : ''} | ${s.vsCoffer !== undefined ? `${s.vsCoffer.toFixed(2)}x` : ''} |`);
    }
    L.push('');
  }
  L.push('### Targets (issue 4)', '');
  if (r.cache === 'cold') L.push('The targets are set for a warm cache; from a cold one they are for comparison only.', '');
  L.push('| check | measured | goal | met |', '| --- | --- | --- | --- |');
  for (const x of r.ratios) {
    const unit = x.goal.includes('MiB') ? ' MiB' : 'x';
    const v = x.measured === undefined ? 'n/a' : `${x.measured.toFixed(unit === 'x' ? 2 : 0)}${unit}`;
    L.push(`| ${cell(x.name)}${x.note ? ` (${cell(x.note)})` : ''} | ${v} | ${x.goal} | ${x.met === undefined ? 'n/a' : x.met ? 'yes' : '**no**'} |`);
  }
  L.push('');
  const failed = r.runs.filter((x) => !x.ok);
  if (failed.length) {
    L.push('### Failed runs', '');
    for (const x of failed) L.push(`- ${x.tool} ${x.op}, ${r.corpora.find((c) => c.key === x.corpus)?.label}, round ${x.round}: ${x.error}`);
    L.push('');
  }
  for (const n of r.notes) L.push(`- ${n}`);
  if (r.notes.length) L.push('');
  return L.join('\n');
}
