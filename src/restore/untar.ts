/**
 * Tar bytes -> entries (tar-stream extract), each matched against the next
 * expected catalog entry when there is a catalog. The consumer must read or
 * drain each body before asking for the next entry. Names are normalised
 * here (no trailing '/'); whether a name is safe to write is fs-writer's job.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import type { Header } from 'tar-stream';
import { IntegrityError } from '../errors.js';
import type { CatalogEntry } from '../format/catalog.js';

/** A parsed tar header; pax records (mtime, uname, ...) as tar-stream leaves them. */
export type EntryHeader = Header & { pax?: Record<string, string> | null };

export interface ArchiveEntry {
  path: string;
  header: EntryHeader;
  body: Readable;
  /** The catalog's record of this entry, when restoring with a manifest. */
  expected?: CatalogEntry;
}

export async function* untar(bytes: AsyncIterable<Buffer>, catalog?: AsyncIterable<CatalogEntry>): AsyncGenerator<ArchiveEntry> {
  const ex = extract();
  let failure: unknown;
  const feeding = pipeline(Readable.from(bytes), ex).catch((err: unknown) => {
    failure = err;
    ex.destroy(err as Error);
  });
  const expected = catalog?.[Symbol.asyncIterator]();
  try {
    for await (const entry of ex as AsyncIterable<Readable & { header: EntryHeader }>) {
      const path = entry.header.name.replace(/\/+$/, '');
      let record: CatalogEntry | undefined;
      if (expected) {
        const next = await expected.next();
        if (next.done || next.value.path !== path) {
          entry.resume();
          throw new IntegrityError('catalog-mismatch', `the archive holds ${JSON.stringify(path)} where the catalog expects ${next.done ? 'no more entries' : JSON.stringify(next.value.path)}`);
        }
        record = next.value;
      }
      yield { path, header: entry.header, body: entry, ...(record ? { expected: record } : {}) };
      entry.resume();
    }
    await feeding;
    if (failure) throw failure;
    if (expected) {
      const next = await expected.next();
      if (!next.done) throw new IntegrityError('catalog-mismatch', `the archive ends before catalog entry ${JSON.stringify(next.value.path)}`);
    }
  } catch (err) {
    // A failure of the source seen before this point is the cause; one that
    // arrives only after the destroy below is its echo ("Premature close").
    const cause = failure;
    ex.destroy();
    await feeding;
    throw cause ?? err;
  } finally {
    // The consumer may stop early (an error while writing): stop the source too.
    if (!ex.destroyed) ex.destroy();
    await feeding;
    await expected?.return?.(undefined);
  }
}
