/**
 * A local directory target. `put` writes a hidden temporary file, fsyncs it,
 * renames it into place and fsyncs the directory, so after a crash a name
 * either holds its complete bytes or does not exist. Temporaries start with
 * '.' and are never listed.
 *
 * Volumes are written and read with O_DIRECT where the filesystem allows it
 * (direct-io.ts).
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { TargetError, UsageError, ioError } from '../errors.js';
import type { ByteSource, Target, TargetProps } from './target.js';
import { FileBytes, ReadBuffers } from './file-bytes.js';
import { AlignedBuffers, openDirect } from './direct-io.js';
import { BufferedWrites, DirectWrites } from './file-writes.js';

const VALID_NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
/**
 * A put takes two; a read one of its own, and up to five more when lent to a
 * caller that hands them back (four read ahead, one held): enough for the
 * few objects a command reads or writes at once.
 */
const ALIGNED_BUFFERS = 16;

export class LocalDirTarget implements Target {
  readonly props: TargetProps = { sequential: false, atomicPut: true, connections: 4 };

  private readonly readBuffers = new ReadBuffers();
  private readonly aligned: AlignedBuffers | undefined;

  private constructor(
    private readonly root: string,
    directIo: boolean,
  ) {
    this.aligned = directIo ? new AlignedBuffers(ALIGNED_BUFFERS) : undefined;
  }

  get display(): string {
    return this.root;
  }

  /** `directIo` false: through the page cache even where O_DIRECT works. */
  static async open(path: string, opts: { create: boolean; directIo?: boolean }): Promise<LocalDirTarget> {
    const root = resolve(path);
    try {
      const s = await stat(root);
      if (!s.isDirectory()) throw new UsageError('target-not-directory', `target ${root} is not a directory`);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('open target', root, err);
      if (!opts.create) throw new UsageError('target-missing', `target ${root} does not exist`, { hint: 'check the path' });
      try {
        await mkdir(root, { recursive: true });
      } catch (e) {
        throw ioError('create target', root, e);
      }
    }
    return new LocalDirTarget(root, opts.directIo ?? true);
  }

  private path(name: string): string {
    if (!VALID_NAME.test(name) || name.split('/').some((p) => p === '.' || p === '..')) throw new Error(`invalid object name ${JSON.stringify(name)}`);
    return join(this.root, name);
  }

  async put(name: string, source: AsyncIterable<Uint8Array>): Promise<{ size: number }> {
    const final = this.path(name);
    const dir = dirname(final);
    const temp = join(dir, `.${name.split('/').pop()}.partial-${randomBytes(6).toString('hex')}`);
    let size = 0;
    let created: string | undefined;
    try {
      created = await mkdir(dir, { recursive: true });
      const stages = this.aligned?.take(2);
      try {
        const { handle, direct } = stages ? await openDirect(temp, NEW_FILE, 0o644) : { handle: await open(temp, NEW_FILE, 0o644), direct: false };
        const writes = direct ? new DirectWrites(handle, stages!) : new BufferedWrites(handle);
        try {
          for await (const chunk of source) await writes.write(chunk);
          size = await writes.finish();
        } finally {
          await writes.settle();
          await handle.close();
        }
      } finally {
        for (const b of stages ?? []) this.aligned!.give(b);
      }
      await rename(temp, final);
      await syncDir(dir);
      return { size };
    } catch (err) {
      await unlink(temp).catch(() => {});
      // A folder this put created (a set's, for its first volume) goes too, if nothing else is in it.
      if (created !== undefined) await rmdir(dir).catch(() => {});
      throw ioError('write', final, err, { volume: name.split('/').pop() ?? name });
    }
  }

  async get(name: string, range?: { start: number; end?: number }): Promise<ByteSource> {
    const p = this.path(name);
    const leaf = name.split('/').pop() ?? name;
    const [landing] = this.aligned?.take(1) ?? [];
    let opened;
    try {
      opened = landing ? await openDirect(p, constants.O_RDONLY) : { handle: await open(p, 'r'), direct: false };
    } catch (err) {
      if (landing) this.aligned!.give(landing);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TargetError('not-found', `${leaf} is missing from ${dirname(p)}`, { where: { volume: leaf } });
      throw ioError('open', p, err, { volume: leaf });
    }
    if (landing && !opened.direct) this.aligned!.give(landing);
    const direct = opened.direct ? { landing: landing!, aligned: this.aligned! } : undefined;
    return new FileBytes(opened.handle, range?.start ?? 0, range?.end ?? Infinity, this.readBuffers, { path: p, volume: leaf }, direct);
  }

  async size(name: string): Promise<number | undefined> {
    try {
      const s = await stat(this.path(name));
      return s.isFile() ? s.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError('stat', this.path(name), err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(rel ? join(this.root, rel) : this.root, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw ioError('list', this.root, err);
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const name = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (name.startsWith(prefix) || prefix.startsWith(name + '/')) await walk(name);
        } else if (e.isFile() && name.startsWith(prefix)) out.push(name);
      }
    };
    await walk('');
    return out.sort();
  }

  /** Removes an object, and its folder once that is empty (a set removed object by object leaves nothing). */
  async remove(name: string): Promise<void> {
    const p = this.path(name);
    try {
      await rm(p, { force: true });
    } catch (err) {
      throw ioError('remove', p, err);
    }
    if (name.includes('/')) await rmdir(dirname(p)).catch(() => {});
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
