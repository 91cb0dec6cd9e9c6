// The build step that takes Bun's environment switches out of the runtime the
// standalone agent is compiled with: on a synthetic image, then on the real runtimes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  NEUTRALISED_BUN_VARIABLES,
  NEUTRALISED_JSC_OPTIONS,
  neutraliseBunSwitches,
} from '../../../scripts/bun-env-switches.mjs';
import { RUNTIMES, runtimeBinary } from '../../../scripts/runtimes.mjs';

const ALL = [...NEUTRALISED_BUN_VARIABLES, ...NEUTRALISED_JSC_OPTIONS.map((o) => `BUN_JSC_${o}`)];

/** An image holding every name NUL-delimited once, plus the same text in other shapes. */
function image(extra = ''): Buffer {
  const names = [...NEUTRALISED_BUN_VARIABLES, ...NEUTRALISED_JSC_OPTIONS.map((o) => `JSC_${o}`)];
  return Buffer.from(`\0${names.join('\0')}\0${extra}`, 'latin1');
}

describe('neutraliseBunSwitches', () => {
  it('turns the first byte of each NUL-terminated name into NUL, and nothing else', () => {
    const input = image('help: set BUN_OPTIONSBUN_BE_BUN in a table\0');
    const { binary, counts } = neutraliseBunSwitches(input);
    expect(binary.length).toBe(input.length);
    expect([...counts.keys()]).toEqual(ALL);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const text = binary.toString('latin1');
    expect(text).toContain('\0\0UN_BE_BUN\0\0UN_OPTIONS\0');
    expect(text).toContain('\0JSC_\0unctionOverrides\0');
    // Names inside other text are left alone: only a whole NUL-terminated string is a getenv() name.
    expect(text).toContain('help: set BUN_OPTIONSBUN_BE_BUN in a table');
    const changed = [...binary].filter((b, i) => b !== input[i]).length;
    expect(changed).toBe(ALL.length);
    // The input is not modified.
    expect(input.toString('latin1')).toContain('\0BUN_BE_BUN\0');
  });

  it.each(['BUN_BE_BUN', 'JSC_functionOverrides'])('fails the build when %s is missing', (name) => {
    const input = Buffer.from(image().toString('latin1').replace(`\0${name}\0`, '\0'), 'latin1');
    expect(() => neutraliseBunSwitches(input)).toThrow(/not found, cannot take it out/);
  });

  it.each(RUNTIMES.map((r) => [r.target, r] as const))('finds every switch in the %s runtime', (_t, r) => {
    const { counts } = neutraliseBunSwitches(readFileSync(runtimeBinary(r)));
    expect([...counts.keys()]).toEqual(ALL);
  });
});
