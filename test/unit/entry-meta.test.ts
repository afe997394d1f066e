// Restore's check of each tar header against its catalog record: the cases
// the CLI tests (test/cli/hostile.test.ts) do not reach with a crafted set.
import { describe, expect, test } from 'vitest';
import type { CatalogEntry } from '../../src/format/catalog.js';
import type { EntryHeader } from '../../src/format/tar-header-decode.js';
import { catalogDisagreement } from '../../src/restore/entry-meta.js';

const header = (over: Partial<EntryHeader> = {}): EntryHeader => ({
  name: 'dev/sda',
  type: 'block-device',
  mode: 0o660,
  uid: 0,
  gid: 6,
  size: 0,
  mtime: new Date(1_600_000_000_000),
  linkname: null,
  uname: 'root',
  gname: 'disk',
  devmajor: 8,
  devminor: 0,
  pax: null,
  ...over,
});
const record = (over: Partial<CatalogEntry> = {}): CatalogEntry => ({ path: 'dev/sda', type: 'block-device', size: 0, mode: 0o660, mtime: 1_600_000_000, uid: 0, gid: 6, devmajor: 8, devminor: 0, offset: 0, end: 512, ...over });

describe('catalogDisagreement', () => {
  test('a header that says what its record says passes, ids and times from PAX records included', () => {
    expect(catalogDisagreement(header(), record())).toBeUndefined();
    const pax = { uid: '3000000', gid: '4000000', mtime: '-0.250' };
    expect(catalogDisagreement(header({ uid: 0, gid: 0, mtime: new Date(0), pax }), record({ uid: 3_000_000, gid: 4_000_000, mtime: -0.25 }))).toBeUndefined();
  });

  test.each([
    ['device', header({ devminor: 1 }), record(), 'device: 8,1 in the archive, 8,0 in the catalog'],
    ['group', header({ gid: 0 }), record(), 'gid: 0 in the archive, 6 in the catalog'],
    ['size', header({ type: 'file', size: 10 }), record({ type: 'file', size: 9 }), 'size: 10 in the archive, 9 in the catalog'],
    ['unknown kind', header({ type: null }), record(), 'type: null in the archive, block-device in the catalog'],
    ['contiguous file for a device', header({ type: 'contiguous-file' }), record(), 'type: contiguous-file in the archive, block-device in the catalog'],
    ['missing mode', header({ mode: null }), record(), 'mode: none in the archive, 0660 in the catalog'],
    ['invalid time', header({ mtime: new Date(NaN) }), record(), 'mtime: invalid in the archive'],
  ])('%s', (_, h, rec, message) => {
    expect(catalogDisagreement(h, rec)).toContain(message);
  });
});
