// Records keyed by names from IAM, S3 or config (`__proto__`, `constructor` and
// `toString` are valid IAM names): built without a prototype, read by own
// property only, so a name never reaches Object.prototype.

/** An empty record with no prototype: assigning `__proto__` makes an own property like any other name. */
export function nullRecord<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/** `rec[key]` when it is rec's own property, else undefined (never an inherited one). */
export function own<T>(rec: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return rec !== undefined && Object.hasOwn(rec, key) ? rec[key] : undefined;
}
