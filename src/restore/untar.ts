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
import { CofferError, IntegrityError } from '../errors.js';
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
  // An entry's body fails when the archive does, with "Stream was destroyed"
  // or the like: its reader gets the archive's failure instead.
  const relayed = (entry: Readable): Readable =>
    Readable.from(
      (async function* () {
        try {
          for await (const b of entry as AsyncIterable<Buffer>) yield b;
        } catch (err) {
          await feeding; // the body's failure destroys the extract, so this settles
          throw malformedTar(failure ?? err);
        }
      })(),
      { objectMode: false },
    );
  try {
    for await (const entry of ex as AsyncIterable<Readable & { header: EntryHeader }>) {
      const path = entry.header.name.replace(/\/+$/, '');
      // A base-256 size field with a bad lead byte decodes to null, which tar-stream
      // takes as a size and then waits for forever.
      const size = entry.header.size;
      if (!(Number.isSafeInteger(size) && size! >= 0)) {
        throw new IntegrityError('tar-corrupt', `the set's tar stream is malformed: entry ${JSON.stringify(path)} has an invalid size field`);
      }
      let record: CatalogEntry | undefined;
      if (expected) {
        const next = await expected.next();
        if (next.done || next.value.path !== path) {
          entry.resume();
          throw new IntegrityError('catalog-mismatch', `the archive holds ${JSON.stringify(path)} where the catalog expects ${next.done ? 'no more entries' : JSON.stringify(next.value.path)}`);
        }
        record = next.value;
      }
      // tar-stream never ends the body of a directory that declares a size (it streams none of it).
      const body = entry.header.type === 'directory' ? Readable.from([]) : relayed(entry);
      yield { path, header: entry.header, body, ...(record ? { expected: record } : {}) };
      body.resume();
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
    throw malformedTar(cause ?? err);
  } finally {
    // The consumer may stop early (an error while writing): stop the source too.
    if (!ex.destroyed) ex.destroy();
    await feeding;
    await expected?.return?.(undefined);
  }
}

/**
 * tar-stream reports a malformed archive ("Unexpected end of data", "Invalid
 * tar header", "Header exceeds max size") with a plain Error. The bytes
 * authenticated, so the archive was written that way: an integrity failure,
 * not an internal error. Other errors pass through unchanged.
 */
function malformedTar(err: unknown): unknown {
  if (!(err instanceof Error) || err.constructor !== Error || err instanceof CofferError) return err;
  // The first sentence only: "Invalid tar header. Maybe ... it needs to be gunzipped?" is no advice here.
  const what = err.message.split('. ')[0]!.replace(/^\w/, (c) => c.toLowerCase()).replace(/[.\s]+$/, '');
  return new IntegrityError('tar-corrupt', `the set's tar stream is malformed: ${what}`, {
    cause: err,
    hint: 'its chunks authenticate, so it was written this way: made by another tool, or crafted',
  });
}
