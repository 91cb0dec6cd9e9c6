// Tiny helpers for parsing untrusted JSON; import-free (the login path loads it).

/** A JSON object (not null, not an array): the first check of every parser of untrusted JSON. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
