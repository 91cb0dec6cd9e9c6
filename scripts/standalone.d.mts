import type { Runtime } from './runtimes.mjs';
export const JIT_POLICY: number;
export function compileStandalone(
  r: Runtime,
  input: string,
  name: string,
  outDir: string,
  options?: { readonly bytecodeOrder?: readonly string[]; readonly plainRuntime?: boolean },
): string;
