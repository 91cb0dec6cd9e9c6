// Bundles the two executables of the contract: dist/iam-authorized-keys (host
// agent) and dist/iam-ssh-keys (operator CLI). One self-contained file each.
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const targets = [
  { entry: 'host-agent/main.ts', out: 'dist/iam-authorized-keys' },
  { entry: 'cli/main.ts', out: 'dist/iam-ssh-keys' },
];

mkdirSync('dist', { recursive: true });
// The repo's package.json says "type": "module"; these bundles are CommonJS and
// extensionless, so pin dist/ to CommonJS (on a host there is no package.json above them).
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');
for (const t of targets) {
  await build({
    entryPoints: [t.entry],
    outfile: t.out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  chmodSync(t.out, 0o755);
  console.log(`${t.out}  ${(statSync(t.out).size / 1024).toFixed(1)} KiB`);
}
