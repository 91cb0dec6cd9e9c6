// The build's bytecode order (scripts/bytecode-order.mjs): a profiling run of the real agent bundle, and a
// compile that fails rather than ship an order that matches nothing.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytecodeOrderFor, profilingInput } from '../../../scripts/bytecode-order.mjs';
import { RUNTIMES } from '../../../scripts/runtimes.mjs';
import { compileStandalone } from '../../../scripts/standalone.mjs';

const BUNDLE = new URL('../../../dist/iam-authorized-keys', import.meta.url).pathname;
const host = RUNTIMES.find((r) => r.cpu === process.arch);

describe('profilingInput', () => {
  it.each([
    ['no refusal of BUN_BYTECODE_ORDER_OUT', 'const a = 1;\n'],
    ['two', 'f("BUN_BYTECODE_ORDER_OUT"); g("BUN_BYTECODE_ORDER_OUT");\n'],
  ])('refuses a bundle with %s', (_label, text) => {
    const dir = mkdtempSync(join(tmpdir(), 'order-input-'));
    writeFileSync(join(dir, 'in.cjs'), text);
    expect(() => profilingInput(join(dir, 'in.cjs'), dir)).toThrow(/expected the agent's refusal/);
  });

  it('spells the name otherwise, at the same length, and changes nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'order-input-'));
    const text = 'const s = new Set(["BUN_OPTIONS", "BUN_BYTECODE_ORDER_OUT"]);\n';
    writeFileSync(join(dir, 'in.cjs'), text);
    const out = readFileSync(profilingInput(join(dir, 'in.cjs'), dir), 'utf8');
    expect(out).toBe('const s = new Set(["BUN_OPTIONS", "BUN_BYTECODE_ORDER_OU_"]);\n');
    expect(out.length).toBe(text.length);
  });
});

describe('bytecodeOrderFor (the agent bundle, npm run build first)', () => {
  it('profiles a hit and a cold run, deletes the profiling executable, and its order is used', async () => {
    expect(existsSync(BUNDLE), `${BUNDLE} missing: run npm run build`).toBe(true);
    const work = mkdtempSync(join(tmpdir(), 'order-'));
    // Bun decides the module format by the extension.
    const input = join(work, 'agent.cjs');
    writeFileSync(input, readFileSync(BUNDLE));
    const orders = await bytecodeOrderFor(input, join(work, 'profile'));
    expect(orders.map((o) => o.split('/').pop())).toEqual(['hit.order', 'cold.order']);
    const [hit = '', cold = ''] = orders.map((o) => readFileSync(o, 'latin1').split('\n'));
    expect(hit[0]).toBe('v2');
    // The cold run also signs, fetches and writes the cache: more of the bundle runs.
    expect(cold.length).toBeGreaterThan(hit.length);
    expect(readdirSync(join(work, 'profile'))).not.toContain('order-profile');
    if (!host) throw new Error(`no Bun runtime for ${process.arch}`);
    const out = compileStandalone(host, input, 'ordered', work, { bytecodeOrder: orders });
    expect(existsSync(out)).toBe(true);
  }, 120_000);

  it('fails the compile when the order lists nothing in the bundle', () => {
    if (!host) throw new Error(`no Bun runtime for ${process.arch}`);
    const work = mkdtempSync(join(tmpdir(), 'order-'));
    const bogus = join(work, 'bogus.order');
    writeFileSync(bogus, 'v2\nF 0000000000000000\n');
    writeFileSync(join(work, 'agent.cjs'), readFileSync(BUNDLE));
    expect(() =>
      compileStandalone(host, join(work, 'agent.cjs'), 'unordered', work, { bytecodeOrder: [bogus] }),
    ).toThrow(/bytecode order not used/);
  }, 120_000);
});
