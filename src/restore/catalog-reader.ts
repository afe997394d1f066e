/**
 * The encrypted catalog (the tail of the manifest) -> entries, streamed in
 * archive order. Chunks authenticate under volume index 0 with rising
 * indexes and must end with an end-of-set chunk; the bytes must hash to the
 * manifest's catalog record. Only one chunk of entries (and one entry of at
 * most MAX_ENTRY_CHARS) is held at a time.
 */
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { IntegrityError } from '../errors.js';
import { ChunkFlag, FRAME_PREFIX_BYTES, maxSealedBytes } from '../format/chunk.js';
import { decodeCatalogEntry } from '../format/catalog.js';
import type { CatalogEntry } from '../format/catalog.js';
import { ByteReader } from '../stream/byte-reader.js';
import { MANIFEST_NAME } from '../set/manifest-io.js';
import type { OpenedSet } from '../set/open-set.js';
import { manifestOf } from '../set/open-set.js';
import { payloadPlaintext } from './payload.js';
import { CATALOG_VOLUME_INDEX } from '../backup/catalog-writer.js';

/**
 * Longest entry line accepted. A real entry is a few hundred bytes; paths
 * and link targets are bounded by PATH_MAX (4096 bytes, at most 6 JSON
 * characters each), so this is generous. Without a bound a catalog with
 * no newline grows one string until memory or V8's string limit runs out.
 */
export const MAX_ENTRY_CHARS = 1024 * 1024;

export async function* readCatalog(s: OpenedSet): AsyncGenerator<CatalogEntry> {
  const m = manifestOf(s);
  const where = { set: s.set, volume: MANIFEST_NAME };
  const fail = (code: string, what: string) => new IntegrityError(code, `manifest of set ${s.set}: catalog ${what}`, { where });
  const hash = createHash('sha256');
  const r = new ByteReader(await s.target.get(`${s.set}/${MANIFEST_NAME}`, { start: s.manifest!.catalogOffset }), (b) => hash.update(b));
  const maxSealed = maxSealedBytes(m.chunkSize);
  const utf8 = new StringDecoder('utf8'); // a character may straddle two chunks
  let carry = '';
  let lineNumber = 0;
  let shortSeen = false;
  try {
    for (let chunkIndex = 0; ; chunkIndex++) {
      const prefix = await r.read(FRAME_PREFIX_BYTES);
      if (prefix.length < FRAME_PREFIX_BYTES) throw fail('catalog-truncated', 'is truncated');
      const length = prefix.readUInt32BE(0);
      if (length > maxSealed || length < 17) throw fail('catalog-corrupt', `chunk ${chunkIndex} has an impossible length`);
      const sealed = await r.read(length);
      if (sealed.length < length) throw fail('catalog-truncated', 'is truncated');
      const opened = s.keys.opener.open(CATALOG_VOLUME_INDEX, chunkIndex, sealed);
      if (!opened) throw fail('catalog-tampered', `chunk ${chunkIndex} failed authentication`);
      if (opened.flag === ChunkFlag.endOfSet) {
        if (!(await r.atEnd())) throw fail('catalog-corrupt', 'has bytes after its end');
        if (r.position !== m.catalog.size || hash.digest('hex') !== m.catalog.sha256) throw fail('catalog-hash-mismatch', 'does not match the hash in the manifest');
        if (chunkIndex !== m.catalog.dataChunks) throw fail('catalog-corrupt', `has ${chunkIndex} chunks, the manifest says ${m.catalog.dataChunks}`);
        if (carry !== '') throw fail('catalog-corrupt', 'ends inside an entry');
        return;
      }
      if (opened.flag !== ChunkFlag.data) throw fail('catalog-corrupt', `chunk ${chunkIndex} has the wrong role`);
      const plain = payloadPlaintext(opened.codec, opened.data, m.chunkSize);
      if (!plain) throw fail('catalog-corrupt', `chunk ${chunkIndex} does not decompress`);
      if (shortSeen) throw fail('catalog-corrupt', `chunk ${chunkIndex - 1} is short but is not the last`);
      shortSeen = plain.length < m.chunkSize;
      // Split only the new text: re-splitting the carried part on every chunk is quadratic in a long line.
      const lines = utf8.write(plain).split('\n');
      lines[0] = carry + lines[0]!;
      carry = lines.pop()!;
      if (carry.length > MAX_ENTRY_CHARS) throw fail('catalog-corrupt', `entry ${lineNumber + lines.length + 1} is longer than ${MAX_ENTRY_CHARS} characters`);
      for (const line of lines) {
        if (line.length > MAX_ENTRY_CHARS) throw fail('catalog-corrupt', `entry ${lineNumber + 1} is longer than ${MAX_ENTRY_CHARS} characters`);
        yield decodeCatalogEntry(line, ++lineNumber);
      }
    }
  } finally {
    await r.close();
  }
}
