import { readCatalog } from '../../restore/catalog-reader.js';
import { includeFilter, volumeOfTarChunk } from '../../restore/plan.js';
import { manifestOf } from '../../set/open-set.js';
import type { Context } from '../context.js';
import { openForReading } from '../open.js';
import type { SetFlags } from '../open.js';
import { errorJson } from '../output.js';
import { CofferError, failureEvent } from '../../errors.js';

const TYPE_CHAR: Record<string, string> = { file: '-', directory: 'd', symlink: 'l', hardlink: 'h', fifo: 'p', 'char-device': 'c', 'block-device': 'b' };

function modeString(type: string, mode: number): string {
  const rwx = (b: number) => `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  return TYPE_CHAR[type]! + rwx(mode >> 6) + rwx(mode >> 3) + rwx(mode);
}

/** Streams the catalog: one line per entry, or one JSON object written as it goes. */
export async function ls(targetSpec: string, setArg: string | undefined, flags: SetFlags & { include?: string[] }, ctx: Context): Promise<number> {
  const s = await openForReading(targetSpec, setArg, flags);
  const m = manifestOf(s);
  const keep = includeFilter(flags.include ?? []);
  const out = process.stdout;
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  // With --json the object is opened before the catalog is read and closed after it, so a
  // catalog that fails midway still leaves one JSON object, ending with ok false and the error.
  if (ctx.json) await write(`{"set":${JSON.stringify(s.set)},"label":${JSON.stringify(m.label)},"entries":[`);
  let first = true;
  try {
    for await (const e of readCatalog(s)) {
      if (!keep(e.path)) continue;
      const tarChunk = Math.floor(e.offset / m.chunkSize);
      const where = { volume: volumeOfTarChunk(m.volumes, tarChunk)?.name ?? null, chunk: tarChunk, chunkOffset: e.offset % m.chunkSize };
      if (ctx.json) {
        await write(`${first ? '' : ','}\n${JSON.stringify({ ...e, ...where })}`);
      } else {
        const owner = `${e.uname ?? e.uid}/${e.gname ?? e.gid}`;
        const date = new Date(e.mtime * 1000).toISOString().slice(0, 16).replace('T', ' ');
        const link = e.type === 'symlink' ? ` -> ${e.link}` : e.type === 'hardlink' ? ` link to ${e.link}` : '';
        await write(`${modeString(e.type, e.mode)} ${owner.padEnd(17)} ${String(e.size).padStart(12)} ${date} ${e.path}${link}\n`);
      }
      first = false;
    }
  } catch (err) {
    if (!ctx.json || !(err instanceof CofferError)) throw err;
    ctx.log.error({ event: failureEvent(err), code: err.code, where: err.where, err }, err.message);
    const { ok, exitCode, error } = errorJson(err);
    await write(`\n],"ok":${ok},"exitCode":${exitCode},"error":${JSON.stringify(error)}}\n`);
    return exitCode;
  }
  if (ctx.json) await write('\n],"ok":true,"exitCode":0}\n');
  return 0;
}
