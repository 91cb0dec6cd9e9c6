// The standalone agent's bytecode laid out in the order a cache hit runs it
// (`bun build --compile --bytecode-order`): a hit then touches fewer pages of
// the executable, which is most of its memory (docs/benchmarks.md).
//
// The order comes from a run of the same bundle compiled with the plain Bun
// runtime: the shipped runtime has BUN_BYTECODE_ORDER_OUT taken out
// (bun-env-switches.mjs), since it would let an environment variable replace
// any file. That profiling executable lives in a temporary directory, talks
// only to a loopback server started here, and is deleted with it.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { RUNTIMES } from './runtimes.mjs';
import { compileStandalone } from './standalone.mjs';

const run = promisify(execFile);

/** An ssh-ed25519 public key line as the publisher renders it (contract/line.ts renderLine). */
function publishedLine(owner) {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  const str = (b) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64');
  return `environment="SSH_KEY_OWNER=${owner}" ssh-ed25519 ${blob} ${owner}\n`;
}

/** A loopback "S3" answering every GET with `body`, its SHA-256 checksum and an ETag, as S3 does. */
async function serveObject(body) {
  const sha = createHash('sha256').update(body).digest();
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-length': Buffer.byteLength(body),
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      'x-amz-checksum-sha256': sha.toString('base64'),
    });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { endpoint: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/**
 * Runs `executable` (compiled from the agent bundle with the plain runtime) for
 * a 50-key group: once to fill the cache, once more on that cache hit, then on
 * a cold cache. Returns the order files of the hit and of the cold run, most
 * important (the hit) first.
 */
export async function profileBytecodeOrder(executable, workDir) {
  const dir = mkdtempSync(join(resolve(workDir), 'order-'));
  const body = Array.from({ length: 50 }, (_, i) => publishedLine(`user${i}`)).join('');
  const s3 = await serveObject(body);
  try {
    const config = join(dir, 'config.json');
    mkdirSync(join(dir, 'cache'), { mode: 0o700 });
    writeFileSync(
      config,
      JSON.stringify({
        bucket: 'order-profile',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        users: { 'ec2-user': ['groups/Admins'] },
        cache: { dir: join(dir, 'cache') },
      }),
      { mode: 0o600 },
    );
    const env = {
      PATH: '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: 'AKIAORDERPROFILE',
      AWS_SECRET_ACCESS_KEY: 'order-profile',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const orders = [];
    for (const pass of ['hit', 'cold']) {
      if (pass === 'cold') rmSync(join(dir, 'cache'), { recursive: true, force: true });
      else await run(executable, ['--config', config, 'ec2-user'], { env }); // fills the cache
      const order = join(dir, `${pass}.order`);
      const r = await run(executable, ['--config', config, 'ec2-user'], {
        env: { ...env, BUN_BYTECODE_ORDER_OUT: order },
      });
      if (r.stdout !== body || !existsSync(order)) {
        throw new Error(`bytecode order: the ${pass} run printed ${r.stdout.length} bytes, wrote no order`);
      }
      orders.push(order);
    }
    return orders;
  } finally {
    await s3.close();
  }
}

/**
 * The agent refuses to start with BUN_BYTECODE_ORDER_OUT set (host-agent/bun-env.ts).
 * The profiling copy of the bundle gets the name spelt otherwise, same length:
 * Bun identifies functions by their source, so every function but the module's
 * top level keeps its identity in the order.
 */
export function profilingInput(input, dir) {
  const text = readFileSync(input, 'utf8');
  const parts = text.split('"BUN_BYTECODE_ORDER_OUT"');
  if (parts.length !== 2)
    throw new Error(`${input}: expected the agent's refusal of BUN_BYTECODE_ORDER_OUT once`);
  const out = join(dir, 'order-profile.cjs');
  writeFileSync(out, parts.join('"BUN_BYTECODE_ORDER_OU_"'));
  return out;
}

/**
 * The order files for the agent bundle `input`, written under `workDir` by a
 * profiling executable for this machine's CPU (the order names functions by
 * their source, so it serves every target).
 */
export async function bytecodeOrderFor(input, workDir) {
  const host = RUNTIMES.find((x) => x.cpu === process.arch);
  if (!host) throw new Error(`no Bun runtime for profiling on ${process.arch}: build on x64 or arm64`);
  mkdirSync(workDir, { recursive: true });
  const exe = compileStandalone(host, profilingInput(input, workDir), 'order-profile', workDir, {
    plainRuntime: true,
  });
  try {
    return await profileBytecodeOrder(exe, workDir);
  } finally {
    rmSync(exe, { force: true });
  }
}
