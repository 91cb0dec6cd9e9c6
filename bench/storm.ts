// Login storm: N concurrent invocations of the host agent for the same user on a
// cold cache (sshd runs one per offered key, up to MaxStartups at a time), against
// moto behind the recording proxy (dev/aws-proxy.ts), which counts the
// S3 GETs per object and holds each GET for BENCH_S3_DELAY_MS (S3's latency; moto
// on loopback answers in ~4 ms, so the invocations would hardly overlap).
// For the script (installed form: node's absolute path in the shebang) and the
// standalone executable (dist/iam-authorized-keys-linux-x64), and for any other
// build given as BENCH_EXTRA=label=/path[,label=/path] (how the agent before
// single flight was measured). Prints, per agent: S3 GETs per object, how many
// answers were right (exit 0, exactly the expected lines), wall time from the
// moment all N are released at once (each waits at a gate until then) to the
// last exit, per-invocation latency from that moment, and memory:
// - peak of the summed RSS: /proc/<pid>/statm of every running child, sampled
//   every BENCH_SAMPLE_MS (20) ms, summed per sample, maximum over the samples
//   (a lower bound of the true peak, since a sample can miss it; one sample of
//   100 children costs ~1.2 ms of this thread's time);
// - the same for the private part (RSS minus file-backed pages: the binary and
//   libraries are counted once per process in RSS, but the host holds them once);
// - per invocation: the largest RSS seen for one child (median and max).
// The children get sshd's kind of environment (no NODE_EXTRA_CA_CERTS, which this
// shell sets and which node would parse at every start).
// Run: npm run build && npx tsx bench/storm.ts   (BENCH_N=100, BENCH_ROUNDS=3,
// BENCH_S3_DELAY_MS=50; `taskset -c 1 npx tsx bench/storm.ts` for a 1-CPU host).
// Also prints the stderr lines of single flight (locks taken over, waits that
// reached the deadline) and why any answer was wrong (exit code, last stderr line).
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { groupKey, userKey } from '../contract/layout.js';
import { renderLine } from '../contract/line.js';
import { startAwsProxy } from '../dev/aws-proxy.js';
import { agentEnv } from '../dev/host.js';
import { makeKey } from '../dev/keys.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';
import { dropPageCache, pageCacheNote } from '../dev/page-cache.js';
import { asPublished } from '../dev/s3-objects.js';
import { rewriteShebang } from '../host-agent/admin/install/plan.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const N = Number(process.env.BENCH_N ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DELAY_MS = Number(process.env.BENCH_S3_DELAY_MS ?? 50);
const SAMPLE_MS = Number(process.env.BENCH_SAMPLE_MS ?? 20);
const ROOT = new URL('..', import.meta.url).pathname;
const BUCKET = 'bench-storm';
const PAGE_KB = 4;

interface Child {
  proc: ChildProcess;
  pid: number;
  stdout: string;
  stderr: string;
  code: number | null;
  startMs: number;
  endMs: number;
  peakKb: number;
}

interface Round {
  getsPerObject: number[];
  right: number;
  /** stderr lines of the single flight: a lock taken over, a wait that reached the deadline. */
  tookOver: number;
  timedOut: number;
  /** Why the wrong ones were wrong: exit code and last stderr line, digits masked. */
  wrong: string[];
  wallMs: number;
  latencyMs: number[];
  peakSumKb: number;
  peakSumPrivateKb: number;
  perChildPeakKb: number[];
}

/** [rss, shared (file-backed)] in kB from /proc/<pid>/statm, or undefined once the child is gone. */
function statm(pid: number): [number, number] | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ');
    return [Number(f[1]) * PAGE_KB, Number(f[2]) * PAGE_KB];
  } catch {
    return undefined;
  }
}

function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
}

/**
 * The recording proxy runs in a process of its own (this file again, with
 * STORM_PROXY=1): this process spends seconds spawning 100 children (fork and
 * exec, under load), and a proxy on its event loop would hold every GET until
 * the last spawn, which S3 does not do (measured: a holder's 50 ms GET came
 * back after 2.9 s, and the waiters took its lock over).
 */
interface ProxyHandle {
  endpoint: string;
  /** S3 GetObject request paths recorded since the last clear. */
  gets(): Promise<string[]>;
  clear(): Promise<void>;
  stop(): Promise<void>;
}

async function proxyProcess(): Promise<void> {
  const proxy = await startAwsProxy(process.env.STORM_TARGET as string, {
    delay: (r) => (r.action === 'GetObject' && DELAY_MS > 0 ? DELAY_MS : undefined),
  });
  process.on('message', async (m: string) => {
    if (m === 'gets')
      process.send?.(proxy.requests.filter((r) => r.action === 'GetObject').map((r) => r.path));
    if (m === 'clear') {
      proxy.clear();
      process.send?.('cleared');
    }
    if (m === 'stop') {
      await proxy.stop();
      process.send?.('stopped', () => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0)); // the bench died: do not outlive it
  process.send?.(proxy.endpoint);
}

async function startProxyProcess(target: string): Promise<ProxyHandle> {
  const child = fork(new URL(import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, STORM_PROXY: '1', STORM_TARGET: target },
  });
  const waiting: ((m: unknown) => void)[] = [];
  child.on('message', (m) => waiting.shift()?.(m));
  child.on('exit', (code) => {
    if (code !== 0) throw new Error(`proxy process exited with ${code}`);
  });
  const next = <T>(): Promise<T> => new Promise((resolve) => waiting.push((m) => resolve(m as T)));
  const ask = <T>(m: string): Promise<T> => {
    const p = next<T>();
    child.send(m);
    return p;
  };
  const endpoint = await next<string>();
  return {
    endpoint,
    gets: () => ask<string[]>('gets'),
    clear: () => ask<string>('clear').then(() => undefined),
    stop: () => ask<string>('stop').then(() => undefined),
  };
}

async function stormRound(
  argv: string[],
  env: NodeJS.ProcessEnv,
  expected: string,
  counts: () => Promise<number[]>,
): Promise<Round> {
  const children: Child[] = [];
  let t0 = 0;
  let peakSumKb = 0;
  let peakSumPrivateKb = 0;
  const sample = () => {
    let sum = 0;
    let priv = 0;
    for (const c of children) {
      if (c.code !== null) continue;
      const m = statm(c.pid);
      if (!m) continue;
      sum += m[0];
      priv += m[0] - m[1];
      c.peakKb = Math.max(c.peakKb, m[0]);
    }
    peakSumKb = Math.max(peakSumKb, sum);
    peakSumPrivateKb = Math.max(peakSumPrivateKb, priv);
  };
  // All at once: each child is a shell blocked on its stdin, which execs the agent (same pid)
  // when released; spawning 100 processes from here takes a second or more, so without this
  // gate the first ones would be done (and the cache warm) before the last ones start.
  const gate = 'read _ && exec "$0" "$@"';
  const done = Array.from(
    { length: N },
    () =>
      new Promise<void>((resolve, reject) => {
        const proc = spawn('/bin/sh', ['-c', gate, ...argv], { env, stdio: ['pipe', 'pipe', 'pipe'] });
        const c: Child = {
          proc,
          pid: proc.pid ?? 0,
          stdout: '',
          stderr: '',
          code: null,
          startMs: 0,
          endMs: 0,
          peakKb: 0,
        };
        children.push(c);
        proc.stdout?.on('data', (d: Buffer) => {
          c.stdout += d.toString();
        });
        proc.stderr?.on('data', (d: Buffer) => {
          c.stderr += d.toString();
        });
        proc.on('error', reject);
        proc.on('close', (code) => {
          c.code = code ?? -1;
          c.endMs = performance.now();
          resolve();
        });
      }),
  );
  await new Promise((r) => setTimeout(r, 200)); // every shell reads its stdin
  t0 = performance.now();
  for (const c of children) {
    c.startMs = t0;
    c.proc.stdin?.end('go\n');
  }
  const timer = setInterval(sample, SAMPLE_MS);
  sample();
  await Promise.all(done);
  clearInterval(timer);
  const wallMs = performance.now() - t0;
  return {
    getsPerObject: await counts(),
    right: children.filter((c) => c.code === 0 && c.stdout === expected).length,
    wrong: children
      .filter((c) => !(c.code === 0 && c.stdout === expected))
      .map((c) => `exit ${c.code}: ${c.stderr.trim().split('\n').pop()?.replace(/\d+/g, 'N') ?? ''}`),
    tookOver: children.reduce((n, c) => n + (c.stderr.match(/: took over /g)?.length ?? 0), 0),
    timedOut: children.reduce(
      (n, c) => n + (c.stderr.match(/ was still fetching it at the deadline/g)?.length ?? 0),
      0,
    ),
    wallMs,
    latencyMs: children.map((c) => c.endMs - c.startMs),
    peakSumKb,
    peakSumPrivateKb,
    perChildPeakKb: children.map((c) => c.peakKb).filter((k) => k > 0),
  };
}

async function main() {
  const dist = join(ROOT, 'dist/iam-authorized-keys');
  if (!existsSync(dist)) throw new Error('dist/iam-authorized-keys missing: run `npm run build` first');
  const work = mkdtempSync(join(tmpdir(), 'iak-storm-'));
  const script = join(work, 'iam-authorized-keys');
  // As install writes it: node's absolute path in the shebang (sshd execs it directly).
  writeFileSync(script, rewriteShebang(readFileSync(dist), process.execPath), { mode: 0o755 });
  const standalone = join(ROOT, 'dist/iam-authorized-keys-linux-x64');
  const agents = [
    { label: 'script (node)', path: script },
    ...(existsSync(standalone) ? [{ label: 'standalone x64', path: standalone }] : []),
    ...(process.env.BENCH_EXTRA ?? '')
      .split(',')
      .filter(Boolean)
      .map((e) => ({ label: e.slice(0, e.indexOf('=')), path: e.slice(e.indexOf('=') + 1) })),
  ];

  const moto = await startMoto();
  let proxy: ProxyHandle | undefined;
  try {
    proxy = await startProxyProcess(moto.endpoint);
    const endpoint = proxy.endpoint;
    const gets = proxy.gets;
    const clear = proxy.clear;
    const s3 = new S3Client({
      region: TEST_REGION,
      endpoint: moto.endpoint,
      forcePathStyle: true,
      credentials: TEST_CREDENTIALS,
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // The shared-account mode: ec2-user <- a 50-member group, and two users of their own.
    const members = Array.from({ length: 50 }, (_, i) => ({ owner: `user${i}`, key: makeKey() }));
    const alice = makeKey();
    const bob = makeKey('ecdsa');
    const objects: [string, string][] = [
      [groupKey('', 'Admins'), members.map((m) => renderLine(m.owner, m.key)).join('')],
      [userKey('', 'alice'), renderLine('alice', alice)],
      [userKey('', 'bob'), renderLine('bob', bob)],
    ];
    for (const [Key, Body] of objects) await s3.send(new PutObjectCommand(asPublished(BUCKET, Key, Body)));
    const expected = objects.map(([, body]) => body).join('');
    const cacheDir = join(work, 'cache');
    const config = join(work, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        users: { 'ec2-user': ['groups/Admins', 'users/alice', 'users/bob'] },
        cache: { dir: cacheDir, ttlSeconds: 300, maxStaleSeconds: 86400 },
      }),
    );
    const env: NodeJS.ProcessEnv = agentEnv(work, endpoint);
    const counts = async () => {
      const got = await gets();
      return objects.map(([key]) => got.filter((p) => p === `/${BUCKET}/${key}`).length);
    };

    // The agents are written by now: measure them as a host runs them (dev/page-cache.ts).
    const pageCache = dropPageCache();
    const results = new Map<string, Round[]>(agents.map((a) => [a.label, []]));
    // Interleaved, so that background load on the shared machine hits every agent alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const a of agents) {
        rmSync(cacheDir, { recursive: true, force: true });
        await clear();
        await new Promise((r) => setTimeout(r, 500)); // let the previous round's stragglers settle
        results
          .get(a.label)
          ?.push(await stormRound([a.path, '--config', config, 'ec2-user'], env, expected, counts));
      }
    }

    const mb = (kb: number) => (kb / 1024).toFixed(1);
    const rows = agents.map((a) => {
      const rs = results.get(a.label) ?? [];
      const lat = rs.flatMap((r) => r.latencyMs);
      const child = rs.flatMap((r) => r.perChildPeakKb);
      return {
        agent: a.label,
        'GETs/object (per round)': rs.map((r) => r.getsPerObject.join('/')).join(' '),
        right: rs.map((r) => `${r.right}/${N}`).join(' '),
        'took over/waits timed out': rs.map((r) => `${r.tookOver}/${r.timedOut}`).join(' '),
        'wall ms (median)': quantile(
          rs.map((r) => r.wallMs),
          0.5,
        ).toFixed(0),
        'latency ms p50/p90/max': `${quantile(lat, 0.5).toFixed(0)}/${quantile(lat, 0.9).toFixed(0)}/${Math.max(...lat).toFixed(0)}`,
        'peak sum RSS MB (max)': mb(Math.max(...rs.map((r) => r.peakSumKb))),
        'peak sum private MB (max)': mb(Math.max(...rs.map((r) => r.peakSumPrivateKb))),
        'RSS/child MB p50/max': `${mb(quantile(child, 0.5))}/${mb(Math.max(...child))}`,
      };
    });
    console.log(
      `login storm: ${N} concurrent invocations, cold cache, 3 objects (${objects.map(([k]) => k).join(', ')}), ` +
        `S3 GETs held ${DELAY_MS} ms by the proxy, ${ROUNDS} rounds per agent; ` +
        `${cpus().length} CPUs, load average ${loadavg()[0]?.toFixed(2)} at the end`,
    );
    console.table(rows);
    for (const a of agents) {
      const why = new Map<string, number>();
      for (const w of (results.get(a.label) ?? []).flatMap((r) => r.wrong)) why.set(w, (why.get(w) ?? 0) + 1);
      for (const [w, n] of why) console.log(`${a.label}: ${n} x ${w}`);
    }
    console.log(pageCacheNote(pageCache));
    console.log(
      `memory: /proc/<pid>/statm of the running children every ${SAMPLE_MS} ms; "sum" = peak over samples of the ` +
        'sum over children (RSS counts the shared binary once per child; "private" leaves out file-backed pages)',
    );
  } finally {
    await proxy?.stop();
    await moto.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.env.STORM_PROXY === '1') await proxyProcess();
else await main();
