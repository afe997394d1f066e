// stream/buffer-pool: memory given back is handed out again, and only memory
// of the pool's size that nothing else shares is taken back at all.
import { expect, test } from 'vitest';
import { BufferPool } from '../../src/stream/buffer-pool.js';

test('take reuses what was given back, newest first, up to the number kept', () => {
  const pool = new BufferPool(4096, 2);
  const [a, b, c] = [pool.take(), pool.take(), pool.take()];
  for (const x of [a, b, c]) expect(x.length).toBe(4096);
  expect(new Set([a.buffer, b.buffer, c.buffer]).size).toBe(3);
  pool.give(a);
  pool.give(b);
  pool.give(c); // beyond the two kept: left to the garbage collector
  expect(pool.take().buffer).toBe(b.buffer);
  expect(pool.take().buffer).toBe(a.buffer);
  expect([a.buffer, b.buffer, c.buffer]).not.toContain(pool.take().buffer);
});

test('a view of the right size is taken back whole; other sizes and shared memory are not', () => {
  const pool = new BufferPool(4096, 8);
  const frame = Buffer.allocUnsafeSlow(4096).subarray(0, 100); // a frame shorter than its room
  pool.give(frame);
  pool.give(Buffer.allocUnsafeSlow(8192));
  pool.give(Buffer.from(new SharedArrayBuffer(4096)));
  const again = pool.take();
  expect(again.buffer).toBe(frame.buffer);
  expect(again.length).toBe(4096);
  expect(pool.take().buffer).not.toBe(frame.buffer);
});
