// What every settings parser of lib/ shares: the error it throws and the list reader.
// Apart from config.ts so that lifecycle-settings.ts (which config.ts reads) needs no cycle.

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
}

/** A comma-separated string (CLI) or an array of strings (cdk.json); blanks dropped. */
export function parseList(value: unknown, name: string): string[] {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (items === undefined || items.some((i) => typeof i !== 'string')) {
    throw new InvalidConfigError(`${name}: expected a comma-separated list or an array of strings`);
  }
  return (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
}
