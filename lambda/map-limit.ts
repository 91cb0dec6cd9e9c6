// Bounded parallelism for IAM reads and S3 writes alike: at most `limit` calls in flight,
// and nothing new starts after a failure (or once told to stop).

/**
 * Runs fn over items with at most `limit` in flight. After the first failure
 * no new item starts, and it rejects with that failure only once the calls in
 * flight have settled: a failed run must not go on writing after it reported
 * the failure (in the Lambda, such writes could land during the next run).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  return (await mapLimitUntil(items, limit, () => false, fn)) as R[];
}

/**
 * mapLimit that also starts no new item once `stop()` is true: items never
 * started are left undefined (holes), items in flight finish.
 */
export async function mapLimitUntil<T, R>(
  items: readonly T[],
  limit: number,
  stop: () => boolean,
  fn: (item: T) => Promise<R>,
): Promise<(R | undefined)[]> {
  const out: (R | undefined)[] = new Array(items.length).fill(undefined);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length && !stop()) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker),
  );
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return out;
}
