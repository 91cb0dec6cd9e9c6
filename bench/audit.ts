// Benchmark of the login trail (docs/benchmarks.md "ship-audit"):
//   1. CPU of one `iam-authorized-keys ship-audit` run that ships 1,000 logins (and their
//      1,000 logouts) from a syslog file to moto's S3, script (node) and standalone, by
//      /usr/bin/time; and of an idle run (nothing new: the cost of the timer each minute).
//   2. Wall time of a run that ships one new login: with the timer (every minute) this is
//      what a record waits after the timer fires.
//   3. The login bench before and after: ssh logins through two sshd, one running the agent
//      built from `main` (BEFORE, a dist/iam-authorized-keys), one this tree's, interleaved.
// Run as root: npx tsx bench/audit.ts BEFORE_AGENT_SCRIPT [N]   (default 40 logins each)
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { STANDALONE_NAME } from '../dev/agent-kind.js';
import { buildAgent, buildCli, createAgentUser, createBucket, iamUserWithKey, publish } from '../dev/host.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';
import {
  createLocalUser,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  type Sshd,
  sshLogin,
  startSshd,
} from '../dev/sshd.js';
import { startSyslogSink } from '../dev/syslog-sink.js';
import { rewriteShebang } from '../host-agent/admin/install/plan.js';

const BEFORE = process.argv[2];
const N = Number(process.argv[3] ?? 40);
const LOCAL = 'iakbench-aud';
const AGENT_USER = 'iakbench-aag';
const FP = 'SHA256:5wTbBJzcHt/htLfaOUQXLZsKzRTdAK4MnPhGUA/KKhU';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** One run of a command under /usr/bin/time: user + system CPU seconds, wall seconds. */
function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { cpu: number; wall: number; out: string } {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %U %S %e', cmd, ...args], { env, encoding: 'utf8' });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return { cpu: Number(m[1]) + Number(m[2]), wall: Number(m[3]), out: r.stdout.trim() };
}

function stamp(d = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.toLocaleString('en-US', { month: 'short' })} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** `count` logins (agent line, Accepted, logout) as rsyslog writes them to auth.log. */
function logins(first: number, count: number): string {
  const t = stamp();
  const out: string[] = [];
  for (let pid = first; pid < first + count; pid++) {
    const port = 10000 + (pid % 50000);
    out.push(
      `${t} bench iam-authorized-keys: key-matched user=ec2-user fingerprint=${FP} owner=alice principal=groups/admins source=cache sshd_pid=${pid}`,
      `${t} bench sshd[${pid}]: Accepted publickey for ec2-user from 10.0.0.9 port ${port} ssh2: ED25519 ${FP}`,
      `${t} bench sshd[${pid + 1}]: Disconnected from user ec2-user 10.0.0.9 port ${port}`,
    );
  }
  return `${out.join('\n')}\n`;
}

async function shipperFigures(dir: string, endpoint: string): Promise<void> {
  const audit = 'bench-audit-trail';
  const log = join(dir, 'auth.log');
  writeFileSync(log, '');
  const config = join(dir, 'audit-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      bucket: 'bench-keys',
      region: TEST_REGION,
      endpoint,
      audit: { bucket: audit, source: log },
    }),
    { mode: 0o644 },
  );
  const env = {
    PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL: endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const script = join(dir, 'agent-script');
  writeFileSync(script, rewriteShebang(readFileSync('dist/iam-authorized-keys'), process.execPath));
  chmodSync(script, 0o755);
  const standalone = join(dir, 'agent-standalone');
  copyFileSync(`dist/${STANDALONE_NAME}`, standalone);
  chmodSync(standalone, 0o755);
  let pid = 100_000;
  for (const [kind, bin] of [
    ['script', script],
    ['standalone', standalone],
  ] as const) {
    const args = [
      'ship-audit',
      '--config',
      config,
      '--state-dir',
      join(dir, `state-${kind}`),
      '--agent-user',
      'root',
    ];
    timed(bin, args, env); // the first run starts the trail at the file's end
    const full: { cpu: number; wall: number }[] = [];
    const idle: { cpu: number; wall: number }[] = [];
    const one: number[] = [];
    for (let i = 0; i < 3; i++) {
      appendFileSync(log, logins(pid, 1000));
      pid += 2000;
      const r = timed(bin, args, env);
      if (!r.out.includes('2000 records')) throw new Error(`expected 2000 records: ${r.out}`);
      full.push(r);
      idle.push(timed(bin, args, env));
      appendFileSync(log, logins(pid, 1));
      pid += 2;
      one.push(timed(bin, args, env).wall);
    }
    console.log(
      `ship-audit (${kind}): 1,000 logins + 1,000 logouts in one run: CPU ${median(full.map((x) => x.cpu)).toFixed(2)} s, wall ${median(full.map((x) => x.wall)).toFixed(2)} s; ` +
        `idle run: CPU ${median(idle.map((x) => x.cpu)).toFixed(2)} s; a run shipping 1 login: wall ${median(one).toFixed(2)} s (median of 3)`,
    );
  }
}

async function loginBeforeAfter(
  dir: string,
  endpoint: string,
  cli: string,
  moto: Awaited<ReturnType<typeof startMoto>>,
) {
  if (!BEFORE) throw new Error('usage: npx tsx bench/audit.ts BEFORE_AGENT_SCRIPT [N]');
  const after = await buildAgent(dir);
  const before = join(dir, 'iam-authorized-keys-before');
  writeFileSync(before, rewriteShebang(readFileSync(BEFORE), process.execPath));
  chmodSync(before, 0o755);
  const syslog = await startSyslogSink(dir);
  const ids = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
  createLocalUser(LOCAL);
  const keys = join(dir, 'keys');
  mkdirSync(keys, { mode: 0o700 });
  const key = makeClientKey(keys, 'alice');
  await createBucket(moto, 'bench-keys');
  await iamUserWithKey(moto, 'alice', key.openssh, ['bench-admins']);
  await publish(cli, moto, 'bench-keys');
  const cacheDir = join(dir, 'cache');
  mkdirSync(cacheDir, { mode: 0o700 });
  chownSync(cacheDir, ids.uid, ids.gid);
  // The agent from main refuses a config with an "audit" section (an unknown key): each gets its own.
  const config = (name: string, extra: object) => {
    const path = join(dir, `login-config-${name}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        bucket: 'bench-keys',
        region: TEST_REGION,
        endpoint,
        users: { [LOCAL]: ['groups/bench-admins'] },
        cache: { dir: cacheDir, ttlSeconds: 3600, maxStaleSeconds: 3600 },
        syslogSocket: syslog.socket,
        ...extra,
      }),
      { mode: 0o644 },
    );
    return path;
  };
  const servers: Sshd[] = [];
  try {
    for (const [name, bin, cfg] of [
      ['before', before, config('before', {})],
      ['after', after, config('after', { audit: { bucket: 'bench-audit-trail' } })],
    ] as const) {
      const d = join(dir, name);
      mkdirSync(d, { mode: 0o755 });
      servers.push(
        await startSshd({
          dir: d,
          authorizedKeysCommand: `${bin} --config ${cfg} %u %f`,
          authorizedKeysCommandUser: AGENT_USER,
        }),
      );
    }
    const res: number[][] = [[], []];
    for (const s of servers)
      if ((await sshLogin(s.port, LOCAL, key)).code !== 0) throw new Error('warm-up failed');
    for (let i = 0; i < N; i++) {
      for (const [j, s] of servers.entries()) {
        const t = performance.now();
        const r = await sshLogin(s.port, LOCAL, key);
        res[j]?.push(performance.now() - t);
        if (r.code !== 0) throw new Error(`login failed: ${r.stderr}`);
      }
    }
    const [b, a] = res.map((x) => median(x)) as [number, number];
    console.log(
      `login bench (cache hit, script agent), ${N} logins each, interleaved: before ${b.toFixed(1)} ms, after ${a.toFixed(1)} ms median (${(a / b).toFixed(2)}x)`,
    );
  } finally {
    for (const s of servers) await s.stop();
    syslog.stop();
    removeLocalUser(LOCAL);
    removeLocalUser(AGENT_USER);
  }
}

async function main() {
  requireSshd();
  execFileSync('test', ['-x', '/usr/bin/time']);
  const moto = await startMoto();
  const dir = makeTrustedDir('bench-audit');
  try {
    const cli = await buildCli();
    await createBucket(moto, 'bench-audit-trail');
    await loginBeforeAfter(dir, moto.endpoint, cli, moto);
    await shipperFigures(dir, moto.endpoint);
    console.log(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} CPUs`,
    );
  } finally {
    await moto.stop();
    removeDir(dir);
  }
}

main().catch((e) => {
  console.error(`bench/audit: ${(e as Error).message}`);
  process.exitCode = 1;
});
