// Bundles the executables of the contract: dist/iam-authorized-keys (host
// agent, for hosts with Node >= 20) and dist/iam-ssh-keys (operator CLI), one
// self-contained file each; then compiles that same agent bundle into the
// standalone executables dist/iam-authorized-keys-linux-{x64,arm64}, which need
// nothing on the host (Bun runtimes from the npm registry, see runtimes.mjs).
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { bytecodeOrderFor } from './bytecode-order.mjs';
import { RUNTIMES } from './runtimes.mjs';
import { compileStandalone } from './standalone.mjs';

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
/**
 * Under Bun (the standalone executable) node:crypto is a JavaScript module
 * (~4 ms of CPU and ~7 MiB to load on its own; ~0.6 ms on a cache miss, which
 * loads the same stream machinery for node:http anyway), and the signing and
 * key fingerprints of a miss need only SHA-256, HMAC-SHA-256 and a few random
 * bytes. Under Bun these come from its own BoringSSL (`Bun.CryptoHasher`, with
 * node:crypto's `update`/`digest` API and results) and WebCrypto; any other
 * call, and node, use node:crypto. The standalone's SigV4 is checked by a
 * signature-verifying S3 stand-in (test/integration/host-agent/standalone.test.ts)
 * and its fingerprints by every FINGERPRINT login on a cold cache.
 */
const BUN_CRYPTO = {
  createHash:
    'export function createHash(alg, ...o) { return B && o.length === 0 ? new B.CryptoHasher(alg) : m().createHash(alg, ...o); }',
  createHmac:
    'export function createHmac(alg, key, ...o) { return B && o.length === 0 ? new B.CryptoHasher(alg, key) : m().createHmac(alg, key, ...o); }',
  randomBytes:
    'export function randomBytes(n, ...o) { return B && o.length === 0 && n <= 65536 ? Buffer.from(crypto.getRandomValues(new Uint8Array(n))) : m().randomBytes(n, ...o); }',
};
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
        ...LAZY_CRYPTO.filter((n) => !BUN_CRYPTO[n]).map(
          (n) => `export function ${n}(...a) { return m().${n}(...a); }`,
        ),
        'const B = globalThis.Bun;',
        ...Object.values(BUN_CRYPTO),
      ].join('\n'),
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/**
 * The agent's admin commands (install, doctor, sync-users, ...) are half of its
 * code and never run at login. Bundled normally, V8 would still pre-parse them
 * at every start (~1.7 ms measured). Instead they are built as a bundle of
 * their own and embedded as a string constant, compiled with `new Function`
 * only when an admin command runs. The string is our own build output, never
 * input. Shared modules (config, errors, cache) are simply duplicated inside.
 */
async function adminAsString() {
  const r = await build({
    ...common,
    entryPoints: ['host-agent/admin/main.ts'],
    write: false,
    outfile: 'admin.js',
    plugins: [lazyCrypto],
  });
  return r.outputFiles[0].text;
}

function adminBoundary(adminSource) {
  return {
    name: 'admin-string-boundary',
    setup(b) {
      b.onResolve({ filter: /^\.\/admin\/main\.js$/ }, (a) =>
        a.importer.endsWith('host-agent/main.ts') ? { path: 'admin', namespace: 'admin-string' } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'admin-string' }, () => ({
        loader: 'js',
        contents: [
          `const source = ${JSON.stringify(adminSource)};`,
          'let m;',
          'export function runAdmin(...a) {',
          '  if (!m) {',
          '    m = { exports: {} };',
          "    new Function('exports', 'require', 'module', '__filename', '__dirname', source)(m.exports, require, m, __filename, __dirname);",
          '  }',
          '  return m.exports.runAdmin(...a);',
          '}',
        ].join('\n'),
      }));
    },
  };
}

const targets = [
  {
    entry: 'host-agent/main.ts',
    out: 'dist/iam-authorized-keys',
    plugins: [lazyCrypto, adminBoundary(await adminAsString())],
    // The login path: admin code may reach it only as the string above, never as modules.
    mustNotContain: 'host-agent/admin/',
  },
  { entry: 'cli/main.ts', out: 'dist/iam-ssh-keys', plugins: [] },
];

mkdirSync('dist', { recursive: true });
// The repo's package.json says "type": "module"; these bundles are CommonJS and
// extensionless, so pin dist/ to CommonJS (on a host there is no package.json above them).
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');
for (const t of targets) {
  const r = await build({
    ...common,
    entryPoints: [t.entry],
    outfile: t.out,
    banner: { js: '#!/usr/bin/env node' },
    plugins: t.plugins,
    write: false,
    metafile: true,
  });
  const inputs = Object.keys(r.metafile.inputs);
  const leaked = t.mustNotContain ? inputs.filter((p) => p.startsWith(t.mustNotContain)) : [];
  if (leaked.length > 0) throw new Error(`${t.out} must not bundle ${leaked.join(', ')}`);
  writeFileSync(t.out, r.outputFiles[0].contents);
  chmodSync(t.out, 0o755);
  console.log(`${t.out}  ${(statSync(t.out).size / 1024).toFixed(1)} KiB`);
}

/**
 * Standalone executables: the agent bundle above, compiled for each target
 * (scripts/standalone.mjs), its bytecode laid out in the order a cache hit
 * runs it (scripts/bytecode-order.mjs).
 */
// Bun decides the module format by the extension: an extensionless input compiles to a program that does nothing.
// Its path is embedded too: a fixed one, so that the same sources give the same bytes.
const inputDir = '.tmp/standalone-input';
const input = `${inputDir}/iam-authorized-keys.cjs`;
mkdirSync(inputDir, { recursive: true });
copyFileSync('dist/iam-authorized-keys', input);
try {
  const bytecodeOrder = await bytecodeOrderFor(input, `${inputDir}/order`);
  for (const r of RUNTIMES) {
    const out = compileStandalone(r, input, `iam-authorized-keys-${r.target}`, 'dist', { bytecodeOrder });
    console.log(`${out}  ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
  }
} finally {
  rmSync(inputDir, { recursive: true, force: true });
}
