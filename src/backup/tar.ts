/**
 * Entries -> a PAX tar stream (tar-stream) and catalog records.
 *
 * Guarantees: the stream is valid tar whatever happens to the source while
 * it is read. A file that shrinks is padded with zeros to the size in its
 * header, one that grows is cut there, and either becomes a warning (tar-
 * stream would otherwise abort the whole archive on a size mismatch). A file
 * that cannot be opened is skipped with a warning. Each record carries the
 * byte offset of the entry's first header and the SHA-256 of exactly the
 * bytes archived.
 *
 * PAX records are added for what ustar cannot hold: sizes of 8 GiB and more,
 * non-ASCII or long owner names, and mtimes that are sub-second, before 1970
 * or after 2038-01-19 (the ustar field then holds the nearest value it can).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { pack as tarPack } from 'tar-stream';
import type { Header, Pack } from 'tar-stream';

type Headers = Partial<Header> & { name: string; pax?: Record<string, string> };
import { describeErrno } from '../errors.js';
import type { CatalogEntry } from '../format/catalog.js';
import type { Warnings } from '../report.js';
import type { WalkEntry } from './walk.js';
import { OwnerNames } from './owners.js';

const READ_BYTES = 512 * 1024;
const USTAR_MAX_SIZE = 8 * 1024 ** 3 - 1;
/** tar-stream writes uid and gid as 6 octal digits (and 777777 for anything larger). */
const USTAR_MAX_ID = 0o777777;
/** tar-stream writes the ustar mtime through `| 0`: only 0 .. 2^31 - 1 seconds (until 2038-01-19) survive. */
const USTAR_MAX_MTIME = 2 ** 31 - 1;
/** Truthy for tar-stream, encoded as mode 0000: tar-stream writes `mode & 0o7777`. */
const ZERO_MODE = 0o10000;

export interface TarOptions {
  warnings: Warnings;
  /** Called in archive order once an entry is completely written; may apply backpressure. */
  onEntry: (entry: CatalogEntry) => Promise<void> | void;
}

/** Counts bytes as tar-stream pushes them: the offset of the next header. */
function countingPack(): { pack: Pack; bytes: () => number } {
  const pack = tarPack();
  let total = 0;
  const push = pack.push.bind(pack);
  (pack as unknown as { push: (b: Buffer | null) => boolean }).push = (b: Buffer | null) => {
    if (b) total += b.length;
    return push(b);
  };
  return { pack, bytes: () => total };
}

/** Returns the tar byte stream; entries are read and packed as the consumer pulls. */
export function tarStream(entries: AsyncIterable<WalkEntry>, opts: TarOptions): AsyncIterable<Buffer> {
  const { pack, bytes } = countingPack();
  const owners = new OwnerNames();

  const produce = async (): Promise<void> => {
    for await (const e of entries) {
      const offset = bytes();
      const header = headerFor(e, owners);
      let sha256: string | undefined;
      if (e.type === 'file') {
        const handle = await openSource(e, opts.warnings);
        if (!handle) continue;
        try {
          sha256 = await writeFile(pack, header, handle, e, opts.warnings);
        } finally {
          await handle.close();
        }
      } else {
        await new Promise<void>((resolve, reject) => quiet(pack.entry(header, (err) => (err ? reject(err) : resolve()))));
      }
      const size = header.size ?? 0;
      const end = bytes() - ((512 - (size % 512)) % 512);
      await opts.onEntry(catalogEntry(e, header, offset, end, sha256));
    }
    pack.finalize();
  };

  return (async function* () {
    const producing = produce().catch((err: unknown) => {
      pack.destroy(err as Error);
    });
    try {
      for await (const chunk of pack as AsyncIterable<Buffer>) yield chunk;
    } finally {
      // The consumer may stop early (a target failure): unblock the producer.
      if (!pack.destroyed) pack.destroy();
      await producing;
    }
  })();
}

async function openSource(e: WalkEntry, warnings: Warnings): Promise<FileHandle | undefined> {
  try {
    return await open(e.absPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    warnings.add(code === 'ENOENT' ? 'source-vanished' : 'source-unreadable', e.absPath, `skipped ${e.absPath}: ${describeErrno(code) ?? String(err)}`);
    return undefined;
  }
}

async function writeFile(pack: Pack, header: Headers, handle: FileHandle, e: WalkEntry, warnings: Warnings): Promise<string> {
  const size = header.size ?? 0;
  const hash = createHash('sha256');
  let sink!: ReturnType<Pack['entry']>;
  const done = new Promise<void>((resolve, reject) => {
    sink = quiet(pack.entry(header, (err) => (err ? reject(err) : resolve())));
  });
  done.catch(() => {}); // awaited below; an earlier failure must not leave it unhandled
  let written = 0;
  let readFailed: string | undefined;
  while (written < size) {
    const want = Math.min(READ_BYTES, size - written);
    let buf = Buffer.allocUnsafe(want);
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buf, 0, want, written));
    } catch (err) {
      readFailed = describeErrno((err as NodeJS.ErrnoException).code) ?? String(err);
      break;
    }
    if (n === 0) break;
    if (n < want) buf = buf.subarray(0, n);
    hash.update(buf);
    written += n;
    if (!sink.write(buf)) await drained(sink as unknown as NodeJS.EventEmitter);
  }
  if (written < size) {
    const zeros = Buffer.alloc(Math.min(READ_BYTES, size - written));
    while (written < size) {
      const part = zeros.subarray(0, Math.min(zeros.length, size - written));
      hash.update(part);
      written += part.length;
      if (!sink.write(part)) await drained(sink as unknown as NodeJS.EventEmitter);
    }
    warnings.add('source-changed', e.absPath, readFailed
      ? `${e.absPath}: read failed (${readFailed}); the rest was archived as zeros`
      : `${e.absPath} shrank while it was read; archived padded with zeros`);
  } else {
    const after = await handle.stat().catch(() => undefined);
    if (after && (after.size !== size || after.mtimeMs !== e.stat.mtimeMs)) {
      warnings.add('source-changed', e.absPath, `${e.absPath} changed while it was read; the archived copy may be inconsistent`);
    }
  }
  (sink as unknown as { end(): void }).end();
  await done;
  return hash.digest('hex');
}

function headerFor(e: WalkEntry, owners: OwnerNames): Headers {
  const st = e.stat;
  const pax: Record<string, string> = {};
  const uname = owners.user(st.uid);
  const gname = owners.group(st.gid);
  const seconds = Math.floor(st.mtimeMs / 1000);
  const header: Headers = {
    name: e.type === 'directory' ? `${e.archivePath}/` : e.archivePath,
    // tar-stream replaces a mode of 0 by 0644 or 0755 (pack.js); a bit above 0o7777 is masked off when
    // the header is encoded, so a file or directory of mode 000 keeps it instead of becoming readable.
    mode: st.mode & 0o7777 || ZERO_MODE,
    uid: st.uid <= USTAR_MAX_ID ? st.uid : 0,
    gid: st.gid <= USTAR_MAX_ID ? st.gid : 0,
    mtime: new Date(Math.min(Math.max(seconds, 0), USTAR_MAX_MTIME) * 1000),
    type: tarType(e.type),
    size: e.type === 'file' ? st.size : 0,
  };
  if (st.uid > USTAR_MAX_ID) pax.uid = String(st.uid);
  if (st.gid > USTAR_MAX_ID) pax.gid = String(st.gid);
  if (uname !== undefined) {
    if (isUstarName(uname)) header.uname = uname;
    else pax.uname = uname;
  }
  if (gname !== undefined) {
    if (isUstarName(gname)) header.gname = gname;
    else pax.gname = gname;
  }
  if (mtimeSeconds(st.mtimeMs) % 1 !== 0 || seconds < 0 || seconds > USTAR_MAX_MTIME) pax.mtime = mtimeSeconds(st.mtimeMs).toFixed(3);
  if ((header.size ?? 0) > USTAR_MAX_SIZE) pax.size = String(header.size);
  if (e.link !== undefined) header.linkname = e.link;
  if (e.type === 'char-device' || e.type === 'block-device') {
    header.devmajor = Math.floor(st.rdev / 256) & 0xfff;
    header.devminor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  }
  // tar-stream adds path and linkpath records itself whenever it writes a pax header.
  if (Object.keys(pax).length) header.pax = pax;
  return header;
}

function isUstarName(n: string): boolean {
  return /^[\x20-\x7e]{1,31}$/.test(n);
}

function tarType(t: WalkEntry['type']): Headers['type'] {
  switch (t) {
    case 'hardlink': return 'link';
    case 'char-device': return 'character-device';
    default: return t;
  }
}

function catalogEntry(e: WalkEntry, header: Headers, offset: number, end: number, sha256: string | undefined): CatalogEntry {
  const st = e.stat;
  const entry: CatalogEntry = {
    path: e.archivePath,
    type: e.type,
    size: header.size ?? 0,
    mode: st.mode & 0o7777,
    mtime: mtimeSeconds(st.mtimeMs),
    uid: st.uid,
    gid: st.gid,
    offset,
    end,
  };
  if (header.uname ?? header.pax?.uname) entry.uname = header.uname ?? header.pax!.uname!;
  if (header.gname ?? header.pax?.gname) entry.gname = header.gname ?? header.pax!.gname!;
  if (sha256 !== undefined) entry.sha256 = sha256;
  if (e.link !== undefined) entry.link = e.link;
  if (header.devmajor !== undefined) {
    entry.devmajor = header.devmajor;
    entry.devminor = header.devminor ?? 0;
  }
  return entry;
}

/** Modification times are kept to the millisecond, in seconds. */
function mtimeSeconds(mtimeMs: number): number {
  return Math.floor(mtimeMs) / 1000;
}

/** Resolves when a tar entry can take more data; rejects if the archive is torn down meanwhile. */
function drained(sink: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve, reject) => {
    // A torn-down entry refuses every write and may have closed before we listen: waiting would never end.
    if ((sink as unknown as { destroying: boolean }).destroying) return reject(new Error('tar stream closed'));
    const done = (ok: boolean) => () => {
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      if (ok) resolve();
      else reject(new Error('tar stream closed'));
    };
    const onDrain = done(true);
    const onClose = done(false);
    sink.on('drain', onDrain);
    sink.on('close', onClose);
  });
}

/** An entry's failure reaches us through its callback; without a listener its 'error' event would crash the process. */
function quiet<T>(sink: T): T {
  (sink as unknown as NodeJS.EventEmitter).on('error', () => {});
  return sink;
}
