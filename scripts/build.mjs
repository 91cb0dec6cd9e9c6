// Bundles the two executables of the contract: dist/iam-authorized-keys (host
// agent) and dist/iam-ssh-keys (operator CLI). One self-contained file each.
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

/**
 * The host agent is sshd's AuthorizedKeysCommand: its start-up is login
 * latency. Loading node:crypto costs ~4 ms (it pulls in streams), and a cache
 * hit does not need it (the cache keeps validated lines with their
 * fingerprints). This plugin turns the bundle's `import { x } from
 * 'node:crypto'` into functions that require node:crypto on their first call,
 * so the sources keep plain imports and only the paths that hash or sign pay
 * for it. Only these names are forwarded: importing any other one fails the
 * build (add it here, as a function).
 */
const LAZY_CRYPTO = ['createHash', 'createHmac', 'createPublicKey', 'randomBytes', 'timingSafeEqual'];
const lazyCrypto = {
  name: 'lazy-node-crypto',
  setup(b) {
    b.onResolve({ filter: /^(node:)?crypto$/ }, (a) =>
      a.namespace === 'lazy-crypto'
        ? { path: 'node:crypto', external: true }
        : { path: 'node:crypto', namespace: 'lazy-crypto' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-crypto' }, () => ({
      loader: 'js',
      contents: [
        'let c;',
        "const m = () => (c ??= require('node:crypto'));",
        ...LAZY_CRYPTO.map((n) => `export function ${n}(...a) { return m().${n}(...a); }`),
      ].join('\n'),
    }));
  },
};

const targets = [
  { entry: 'host-agent/main.ts', out: 'dist/iam-authorized-keys', plugins: [lazyCrypto] },
  { entry: 'cli/main.ts', out: 'dist/iam-ssh-keys', plugins: [] },
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
    plugins: t.plugins,
  });
  chmodSync(t.out, 0o755);
  console.log(`${t.out}  ${(statSync(t.out).size / 1024).toFixed(1)} KiB`);
}
