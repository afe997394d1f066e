/**
 * Builds hostile sets with the project's own writer at the lowest level:
 * `writeSet` (from dist/, the code bin/coffer runs) with a SetContent that
 * packs entries with tar-stream directly, or writes raw tar bytes, and adds
 * matching catalog entries, so the set is authentic and only its contents
 * are evil.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { pack as tarPack } from 'tar-stream';
import type { Header } from 'tar-stream';
import { REPO } from './cli.js';
import type * as RunModule from '../../src/backup/run.js';
import type * as TargetModule from '../../src/targets/target.js';
import type * as IdentityModule from '../../src/crypto/identity-file.js';
import type * as LogModule from '../../src/log.js';
import type { CatalogEntry } from '../../src/format/catalog.js';

export const dist = <T>(path: string): Promise<T> => import(pathToFileURL(join(REPO, 'dist', path)).href) as Promise<T>;

export interface Hostile {
  header: Partial<Header> & { name: string; type: Header['type'] };
  body?: Buffer;
  /** Makes the catalog lie about this entry. */
  lie?: (rec: CatalogEntry) => CatalogEntry;
}

const catalogType: Record<string, CatalogEntry['type']> = { file: 'file', directory: 'directory', symlink: 'symlink', link: 'hardlink', fifo: 'fifo', 'character-device': 'char-device', 'block-device': 'block-device' };

/** A SetContent packing `entries` as given, with catalog records that match them exactly. */
export function hostileContent(entries: Hostile[]): RunModule.SetContent {
  return (catalog) =>
    (async function* () {
      const pack = tarPack();
      let total = 0;
      const push = pack.push.bind(pack);
      (pack as unknown as { push: (b: Buffer | null) => boolean }).push = (b: Buffer | null) => {
        if (b) total += b.length;
        return push(b);
      };
      const producing = (async () => {
        for (const e of entries) {
          const body = e.body ?? Buffer.alloc(0);
          const offset = total;
          const header = { mode: 0o644, mtime: new Date(1_600_000_000_000), uid: 0, gid: 0, ...e.header, size: body.length };
          await new Promise<void>((resolve, reject) => pack.entry(header, body, (err) => (err ? reject(err) : resolve())));
          const end = total - ((512 - (body.length % 512)) % 512);
          const rec: CatalogEntry = {
            path: e.header.name.replace(/\/+$/, ''),
            type: catalogType[e.header.type]!,
            size: body.length,
            mode: header.mode & 0o7777,
            mtime: header.mtime.getTime() / 1000,
            uid: header.uid,
            gid: header.gid,
            offset,
            end,
          };
          if (e.header.type === 'file') rec.sha256 = createHash('sha256').update(body).digest('hex');
          if (e.header.linkname !== undefined) rec.link = e.header.linkname;
          if (e.header.type === 'character-device' || e.header.type === 'block-device') {
            rec.devmajor = e.header.devmajor ?? 0;
            rec.devminor = e.header.devminor ?? 0;
          }
          await catalog.add(e.lie ? e.lie(rec) : rec);
        }
        pack.finalize();
      })();
      producing.catch((err: unknown) => pack.destroy(err as Error));
      for await (const chunk of pack as AsyncIterable<Buffer>) yield chunk;
      await producing;
    })();
}

export async function makeSet(where: string, content: Hostile[], pub: string, raw?: RunModule.SetContent): Promise<void> {
  const { writeSet } = await dist<typeof RunModule>('backup/run.js');
  const { openTarget } = await dist<typeof TargetModule>('targets/target.js');
  const { loadPublicKey } = await dist<typeof IdentityModule>('crypto/identity-file.js');
  const { silentLogger } = await dist<typeof LogModule>('log.js');
  await writeSet(
    {
      target: await openTarget(where, { create: true }),
      recipients: [await loadPublicKey(pub)],
      volumeSize: 1024 * 1024,
      chunkSize: 64 * 1024,
      compression: 'deflate',
      pad: false,
      label: 'hostile',
      log: silentLogger,
      progress: { start() {}, add() {}, done() {} },
    },
    raw ?? hostileContent(content),
  );
}

