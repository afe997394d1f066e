// parallel/scavenge: the workers' early young-generation collections really
// run on this Node (the collector is reached by a route Node does not
// document; if it stopped working, worker memory would quietly grow back).
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { expect, test } from 'vitest';
import { canScavenge, scavengeEvery } from '../../src/parallel/scavenge.js';

test('the collector is reachable, and every n-th call runs a minor collection', async () => {
  expect(canScavenge).toBe(true);
  const kinds: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const scavenge = scavengeEvery(3);
    scavenge();
    scavenge();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = kinds.filter((k) => k === constants.NODE_PERFORMANCE_GC_MINOR).length;
    scavenge();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = kinds.filter((k) => k === constants.NODE_PERFORMANCE_GC_MINOR).length;
    expect(after).toBeGreaterThan(before);
  } finally {
    observer.disconnect();
  }
});
