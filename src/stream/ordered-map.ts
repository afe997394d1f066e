/**
 * Maps an async source through an async function with at most `concurrency`
 * calls in flight, yielding results in source order. The bound is the
 * backpressure: the source is not pulled while the window is full.
 *
 * Failures come out in source order too: when the source fails, the results
 * of the items it produced before failing are yielded (or their failures
 * thrown) first. A reader that authenticates a volume's end only after
 * handing on its chunks thus reports a bad chunk before the bad end.
 */
export async function* orderedMap<T, R>(source: AsyncIterable<T>, concurrency: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const window: Promise<R>[] = [];
  const it = source[Symbol.asyncIterator]();
  let exhausted = false;
  let sourceFailure: { error: unknown } | undefined;
  try {
    while (true) {
      while (!exhausted && window.length < concurrency) {
        let next: IteratorResult<T>;
        try {
          next = await it.next();
        } catch (error) {
          sourceFailure = { error };
          exhausted = true;
          break;
        }
        if (next.done) {
          exhausted = true;
          break;
        }
        const p = fn(next.value);
        p.catch(() => {}); // observed when its turn comes; avoids an unhandled rejection meanwhile
        window.push(p);
      }
      const head = window.shift();
      if (!head) break;
      yield await head;
    }
    if (sourceFailure) throw sourceFailure.error;
  } finally {
    if (!exhausted) await it.return?.();
  }
}
