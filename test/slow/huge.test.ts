// A file over 8 GiB (beyond ustar's size field) round-trips through backup,
// keyed verify and restore, spanning several volumes. The source is sparse,
// so it costs no disk, but every byte still goes through the pipeline.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '..', '..', 'bin', 'coffer');
const SIZE = 8 * 1024 ** 3 + 1024 ** 2 + 3;
let dir: string;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(b as Buffer);
  return h.digest('hex');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-huge-'));
  const f = await open(join(dir, 'huge.bin'), 'w');
  await f.write(Buffer.from('start'), 0, 5, 0);
  await f.write(Buffer.from('the end'), 0, 7, SIZE - 7);
  await f.close();
  await run('node', [bin, 'keygen', '--out', join(dir, 'key')]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a file over 8 GiB round-trips', async () => {
  const src = join(dir, 'huge.bin');
  const backup = await run('node', [bin, 'backup', src, '--to', join(dir, 'target'), '--recipient', join(dir, 'key.pub'), '--volume-size', '2G', '--json'], { maxBuffer: 1 << 24 });
  const result = JSON.parse(backup.stdout) as { files: number; sourceBytes: number; volumes: unknown[] };
  expect(result.files).toBe(1);
  expect(result.sourceBytes).toBe(SIZE);
  await run('node', [bin, 'verify', join(dir, 'target'), '--identity', join(dir, 'key')]);
  await run('node', [bin, 'restore', join(dir, 'target'), '--to', join(dir, 'restored'), '--identity', join(dir, 'key')]);
  const restored = join(dir, 'restored', src.slice(1));
  expect((await stat(restored)).size).toBe(SIZE);
  expect(await sha256(restored)).toBe(await sha256(src));
});
