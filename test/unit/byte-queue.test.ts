// stream/byte-queue: the reader gets each buffer as it was pushed (the same
// object, never joined), in order; push reports when more than the limit
// waits and room() resolves once the reader has taken enough; destroy makes
// the reader throw; a reader that stops never makes room again. The writer
// learns when the reader is done with each buffer.
import { describe, expect, test } from 'vitest';
import { ByteQueue } from '../../src/stream/byte-queue.js';

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('ByteQueue', () => {
  test('hands over each pushed buffer itself, in order, then ends', async () => {
    const q = new ByteQueue(1 << 20);
    const pushed = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('bc'), Buffer.from('def')];
    for (const b of pushed) q.push(b);
    q.end();
    const got: Uint8Array[] = [];
    for await (const b of q) got.push(b);
    expect(got.length).toBe(pushed.length);
    got.forEach((b, i) => expect(b).toBe(pushed[i]));
  });

  test('a reader waiting for data wakes at each push and at the end', async () => {
    const q = new ByteQueue(10);
    const got: string[] = [];
    const reading = (async () => {
      for await (const b of q) got.push(Buffer.from(b).toString());
    })();
    await settled(Promise.resolve());
    q.push(Buffer.from('x'));
    expect(await settled(Promise.resolve())).toBe(true);
    expect(got).toEqual(['x']);
    q.push(Buffer.from('y'));
    q.end();
    await reading;
    expect(got).toEqual(['x', 'y']);
  });

  test('backpressure: push says when more than the limit waits; room() resolves once the reader took enough', async () => {
    const q = new ByteQueue(5);
    expect(q.push(Buffer.alloc(3))).toBe(true);
    expect(q.push(Buffer.alloc(2))).toBe(true);
    expect(q.push(Buffer.alloc(4))).toBe(false);
    const room = q.room();
    expect(await settled(room)).toBe(false);
    const it = q[Symbol.asyncIterator]();
    await it.next(); // 6 bytes still wait
    expect(await settled(room)).toBe(false);
    await it.next(); // 4 bytes wait
    expect(await settled(room)).toBe(true);
    expect(await settled(q.room())).toBe(true);
  });

  test('destroy: the reader throws the error, whatever is still queued', async () => {
    const q = new ByteQueue(100);
    q.push(Buffer.from('a'));
    q.destroy(new Error('target failed'));
    await expect((async () => {
      for await (const _ of q) {
        // nothing is handed over after destroy
      }
    })()).rejects.toThrow('target failed');
  });

  test('a reader that stops never makes room again, and later pushes are refused', async () => {
    const q = new ByteQueue(1);
    q.push(Buffer.alloc(2));
    q.push(Buffer.alloc(2));
    const room = q.room();
    for await (const _ of q) break;
    expect(q.push(Buffer.alloc(1))).toBe(false);
    expect(await settled(room)).toBe(false);
    expect(await settled(q.room())).toBe(false);
  });

  test('released: each buffer once the reader pulls the one after it (or the end); never one a stopped reader held', async () => {
    const released: string[] = [];
    const q = new ByteQueue(1 << 20, (b) => released.push(Buffer.from(b).toString()));
    for (const t of ['a', 'b', 'c']) q.push(Buffer.from(t));
    q.end();
    const seen: string[][] = [];
    for await (const b of q) seen.push([Buffer.from(b).toString(), ...released]);
    // While the reader holds a buffer, that one is not released yet.
    expect(seen).toEqual([['a'], ['b', 'a'], ['c', 'a', 'b']]);
    expect(released).toEqual(['a', 'b', 'c']);

    const stoppedReleases: Uint8Array[] = [];
    const stopped = new ByteQueue(1 << 20, (b) => stoppedReleases.push(b));
    stopped.push(Buffer.from('x'));
    stopped.push(Buffer.from('y'));
    for await (const _ of stopped) break;
    expect(stoppedReleases).toEqual([]);
  });
});
