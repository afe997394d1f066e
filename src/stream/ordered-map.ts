/**
 * Maps an async source through an async function with at most `concurrency`
 * calls in flight, yielding results in source order. The bound is the
 * backpressure: the source is not pulled while the window is full.
 */
export async function* orderedMap<T, R>(source: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const window: Promise<R>[] = [];
  const it = source[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    while (true) {
      while (!exhausted && window.length < concurrency) {
        const next = await it.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const p = fn(next.value);
        p.catch(() => {}); // observed when its turn comes; avoids an unhandled rejection meanwhile
        window.push(p);
      }
      const head = window.shift();
      if (!head) return;
      yield await head;
    }
  } finally {
    if (!exhausted) await it.return?.();
  }
}
