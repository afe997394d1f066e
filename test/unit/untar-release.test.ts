// restore/untar with a reader that hands its buffers back for reuse: nothing
// untar decodes may be read from a buffer after the call that hands it back.
// A PAX record that ends exactly where a source buffer ends is the case that
// broke: it was decoded after the read of its padding, by then scribbled over.
import { pack } from 'tar-stream';
import { describe, expect, test } from 'vitest';
import { untar } from '../../src/restore/untar.js';
import { collect } from './helpers.js';

async function tarOf(name: string, body: string): Promise<Buffer> {
  const p = pack();
  p.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, body);
  p.finalize();
  return collect(p);
}

describe('untar and reused buffers', () => {
  test('a PAX record ending at a buffer boundary is decoded before its buffer goes back', async () => {
    const name = `folder/${'n'.repeat(150)}.txt`; // a name part past ustar's 100 bytes: a PAX path record
    const tar = await tarOf(name, 'hello\n');
    const recordSize = Number.parseInt(tar.toString('latin1', 124, 135), 8);
    expect(tar[156]).toBe(0x78); // 'x': the PAX header comes first
    const cut = 512 + recordSize;
    // Copies, so scribbling over one cannot change the archive elsewhere.
    const pieces = [Buffer.from(tar.subarray(0, cut)), Buffer.from(tar.subarray(cut))];
    const released: Buffer[] = [];
    const source = (async function* () { yield* pieces; })();
    const paths: string[] = [];
    for await (const e of untar(source, undefined, (b) => { released.push(b); b.fill(0xee); })) {
      paths.push(e.path);
      for await (const _ of e.body) void _;
    }
    expect(paths).toEqual([name]);
    expect(released).toEqual([pieces[0], pieces[1]]);
  });
});
