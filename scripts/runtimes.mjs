// The Bun runtimes the standalone host agent is compiled with, one per target
// (installed by scripts/install-runtimes.mjs, used by scripts/build.mjs).
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

export const RUNTIMES = [
  {
    target: 'linux-x64',
    cpu: 'x64',
    bunTarget: 'bun-linux-x64-baseline',
    pkg: '@oven/bun-linux-x64-baseline',
  },
  { target: 'linux-arm64', cpu: 'arm64', bunTarget: 'bun-linux-arm64', pkg: '@oven/bun-linux-aarch64' },
];

export const runtimeDir = (r) => join(ROOT, 'packaging/runtimes', r.target);
export const runtimeBinary = (r) => join(runtimeDir(r), 'node_modules', r.pkg, 'bin', 'bun');
