/**
 * A local directory target. `put` writes a hidden temporary file, fsyncs it,
 * renames it into place and fsyncs the directory, so after a crash a name
 * either holds its complete bytes or does not exist. Temporaries start with
 * '.' and are never listed.
 *
 * While a large put is written, what it wrote so far is flushed to disk in
 * the background every FLUSH_BYTES: with plenty of memory the kernel would
 * otherwise keep a whole volume dirty until the final fsync, and the backup
 * would wait for all of it to reach the disk there.
 */
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { TargetError, UsageError, ioError } from '../errors.js';
import type { ByteSource, Target, TargetProps } from './target.js';
import { FileBytes, ReadBuffers } from './file-bytes.js';

const VALID_NAME = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const FLUSH_BYTES = 64 * 1024 * 1024;

export class LocalDirTarget implements Target {
  readonly props: TargetProps = { sequential: false, atomicPut: true, connections: 4 };

  private readonly readBuffers = new ReadBuffers();

  private constructor(private readonly root: string) {}

  get display(): string {
    return this.root;
  }

  static async open(path: string, opts: { create: boolean }): Promise<LocalDirTarget> {
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
    return new LocalDirTarget(root);
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
      const handle = await open(temp, 'wx', 0o644);
      let unflushed = 0;
      let flushing: Promise<void> | undefined;
      try {
        for await (const chunk of source) {
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await handle.write(chunk, off, chunk.length - off);
            off += bytesWritten;
          }
          size += chunk.length;
          unflushed += chunk.length;
          if (unflushed >= FLUSH_BYTES && !flushing) {
            unflushed = 0;
            // Not awaited: writing goes on while the disk catches up. A failure stays in `flushing` and is thrown below.
            flushing = handle.datasync().then(() => {
              flushing = undefined;
            });
            flushing.catch(() => {});
          }
        }
        await flushing;
        await handle.sync();
      } finally {
        await flushing?.catch(() => {});
        await handle.close();
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
    const handle = await open(p, 'r').catch((err: NodeJS.ErrnoException) => {
      const leaf = name.split('/').pop() ?? name;
      if (err.code === 'ENOENT') throw new TargetError('not-found', `${leaf} is missing from ${dirname(p)}`, { where: { volume: leaf } });
      throw ioError('open', p, err, { volume: leaf });
    });
    return new FileBytes(handle, range?.start ?? 0, range?.end ?? Infinity, this.readBuffers, { path: p, volume: name.split('/').pop() ?? name });
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
