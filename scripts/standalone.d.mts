import type { Runtime } from './runtimes.mjs';
export function compileStandalone(r: Runtime, input: string, name: string, outDir: string): string;
