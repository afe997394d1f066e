// stream/ordered-map: results come in source order whatever order the calls
// finish in; never more than `concurrency` calls run or wait; an error in a
// call or in the source reaches the consumer and stops pulling the source.
import { describe, expect, test } from 'vitest';
import { orderedMap } from '../../src/stream/ordered-map.js';
import { seededRandom } from './helpers.js';

/** Resolves after a random number of macrotask turns: calls finish out of order. */
function jitter(rnd: ReturnType<typeof seededRandom>): Promise<void> {
  const turns = rnd.int(6);
  return new Promise((resolve) => {
    let n = 0;
    const step = () => (n++ >= turns ? resolve() : setImmediate(step));
    step();
  });
}

interface Probe {
  pulled: number;
  returned: boolean;
  source: AsyncGenerator<number>;
}

function countingSource(n: number, failAt?: number): Probe {
  const probe = { pulled: 0, returned: false } as Probe;
  probe.source = (async function* () {
    try {
      for (let i = 0; i < n; i++) {
        if (i === failAt) throw new Error(`source failed at ${i}`);
        probe.pulled++;
        yield i;
      }
    } finally {
      probe.returned = true;
    }
  })();
  return probe;
}

describe('orderedMap', () => {
  test.each([1, 2, 4, 16])('keeps source order with random delays, concurrency %i', async (concurrency) => {
    const rnd = seededRandom(concurrency);
    const probe = countingSource(300);
    let inFlight = 0;
    let maxInFlight = 0;
    const finishOrder: number[] = [];
    const out: number[] = [];
    for await (const r of orderedMap(probe.source, concurrency, async (i) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await jitter(rnd);
      inFlight--;
      finishOrder.push(i);
      return i * 2;
    })) {
      // Backpressure: the source is never more than the window ahead of the
      // consumer, and the window is filled before each result is handed out.
      const ahead = probe.pulled - r / 2;
      if (r / 2 + concurrency <= 300) expect(ahead).toBe(concurrency);
      else expect(ahead).toBeLessThanOrEqual(concurrency);
      out.push(r);
      await jitter(rnd);
    }
    expect(out).toEqual(Array.from({ length: 300 }, (_, i) => i * 2));
    expect(maxInFlight).toBeLessThanOrEqual(concurrency);
    if (concurrency > 1) expect(maxInFlight).toBeGreaterThan(1); // calls do overlap
    if (concurrency > 1) expect(finishOrder).not.toEqual([...finishOrder].sort((a, b) => a - b));
  });

  test('an error in a call reaches the consumer in order and stops pulling', async () => {
    const rnd = seededRandom(7);
    const probe = countingSource(1000);
    const calls: number[] = [];
    const out: number[] = [];
    const run = async () => {
      for await (const r of orderedMap(probe.source, 4, async (i) => {
        calls.push(i);
        await jitter(rnd);
        // Two failures in one window: the later one must not surface as an unhandled rejection.
        if (i === 20 || i === 22) throw new Error(`call ${i} failed`);
        return i;
      })) out.push(r);
    };
    await expect(run()).rejects.toThrow('call 20 failed');
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(probe.returned).toBe(true);
    expect(probe.pulled).toBeLessThanOrEqual(20 + 4);
    expect(Math.max(...calls)).toBeLessThan(20 + 4);
  });

  test('a synchronous throw in a call is an error too', async () => {
    const probe = countingSource(100);
    const run = async () => {
      for await (const _ of orderedMap(probe.source, 3, (i) => {
        if (i === 5) throw new Error('sync');
        return Promise.resolve(i);
      })) void _;
    };
    await expect(run()).rejects.toThrow('sync');
    expect(probe.pulled).toBeLessThanOrEqual(5 + 3);
  });

  test('an error in the source reaches the consumer after the results before it', async () => {
    const probe = countingSource(100, 30);
    const out: number[] = [];
    const run = async () => {
      for await (const r of orderedMap(probe.source, 4, async (i) => i)) out.push(r);
    };
    await expect(run()).rejects.toThrow('source failed at 30');
    expect(out).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  test("an item's failure is thrown before a later failure of the source", async () => {
    const probe = countingSource(100, 6);
    const run = async () => {
      for await (const _ of orderedMap(probe.source, 4, async (i) => {
        await new Promise((r) => setTimeout(r, 5));
        if (i === 4) throw new Error('item 4 failed');
        return i;
      })) void _;
    };
    await expect(run()).rejects.toThrow('item 4 failed');
  });

  test('a consumer that stops early closes the source', async () => {
    const probe = countingSource(1000);
    for await (const r of orderedMap(probe.source, 4, async (i) => i)) if (r === 10) break;
    expect(probe.returned).toBe(true);
    expect(probe.pulled).toBeLessThanOrEqual(11 + 4);
  });

  test('an empty source yields nothing', async () => {
    const probe = countingSource(0);
    const out: number[] = [];
    for await (const r of orderedMap(probe.source, 4, async (i) => i)) out.push(r);
    expect(out).toEqual([]);
    expect(probe.returned).toBe(true);
  });
});
