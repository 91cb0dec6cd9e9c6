// Benchmark: a real ssh login through a real sshd, five ways:
//   static  - AuthorizedKeysFile with the key (the baseline),
//   hit     - the agent (script, node) as AuthorizedKeysCommand, cache fresh (no network),
//   miss    - the same with ttlSeconds 0: every lookup signs and GETs from S3 (moto),
//   sa-hit, sa-miss - the same with the standalone executable, sshd started where node
//             does not exist (dev/agent-kind.ts).
// Prints the median and p90 of N sequential logins each, and the ratios.
// Run as root: npx tsx bench/login.ts [N]   (default 20)
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { STANDALONE_NAME } from '../dev/agent-kind.js';
import { buildAgent, buildCli, createAgentUser, createBucket, iamUserWithKey, publish } from '../dev/host.js';
import { startMoto, TEST_REGION } from '../dev/moto.js';
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

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const N = Number(process.argv[2] ?? 20);
const LOCAL = 'iakbench-ops';
const AGENT_USER = 'iakbench-agent';
const BUCKET = 'bench-login-keys';

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
  return { median: q(0.5), p90: q(0.9), min: s[0] as number };
}

async function timeLogins(sshd: Sshd, key: Parameters<typeof sshLogin>[2], count: number): Promise<number[]> {
  const out: number[] = [];
  // One warm-up login (fills the cache for "hit", warms page cache for all).
  if ((await sshLogin(sshd.port, LOCAL, key)).code !== 0) throw new Error('warm-up login failed');
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const r = await sshLogin(sshd.port, LOCAL, key);
    out.push(performance.now() - t);
    if (r.code !== 0) throw new Error(`login ${i} failed: ${r.stderr}`);
  }
  return out;
}

async function main() {
  requireSshd();
  const moto = await startMoto();
  const dir = makeTrustedDir('bench');
  const servers: Sshd[] = [];
  try {
    const cli = await buildCli();
    const agent = await buildAgent(dir);
    const standalone = join(dir, 'iam-authorized-keys-standalone');
    copyFileSync(new URL(`../dist/${STANDALONE_NAME}`, import.meta.url).pathname, standalone);
    chmodSync(standalone, 0o755);
    const syslog = await startSyslogSink(dir);
    const ids = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    createLocalUser(LOCAL);
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    const key = makeClientKey(keys, 'alice');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, 'alice', key.openssh, ['bench-admins']);
    await publish(cli, moto, BUCKET);

    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, ids.uid, ids.gid);
    const config = (ttl: number) => {
      const path = join(dir, `config-${ttl}.json`);
      writeFileSync(
        path,
        JSON.stringify({
          bucket: BUCKET,
          region: TEST_REGION,
          endpoint: moto.endpoint,
          users: { [LOCAL]: ['groups/bench-admins'] },
          cache: { dir: cacheDir, ttlSeconds: ttl, maxStaleSeconds: Math.max(ttl, 600) },
          syslogSocket: syslog.socket,
        }),
        { mode: 0o644 },
      );
      return path;
    };
    const staticFile = join(dir, 'authorized_keys');
    writeFileSync(staticFile, `${key.openssh} alice\n`, { mode: 0o644 });

    const mk = async (name: string, o: Partial<Parameters<typeof startSshd>[0]>) => {
      const d = join(dir, name);
      mkdirSync(d, { mode: 0o755 });
      const s = await startSshd({ dir: d, ...o });
      servers.push(s);
      return s;
    };
    const sStatic = await mk('static', { authorizedKeysFile: staticFile });
    const sHit = await mk('hit', {
      authorizedKeysCommand: `${agent} --config ${config(3600)} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
    });
    const sMiss = await mk('miss', {
      authorizedKeysCommand: `${agent} --config ${config(0)} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
    });
    const sSaHit = await mk('sa-hit', {
      authorizedKeysCommand: `${standalone} --config ${config(3600)} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
      agentKind: 'standalone',
    });
    const sSaMiss = await mk('sa-miss', {
      authorizedKeysCommand: `${standalone} --config ${config(0)} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
      agentKind: 'standalone',
    });

    // Interleave the modes so drifting machine load affects each alike.
    const byMode: Record<string, Sshd> = {
      static: sStatic,
      hit: sHit,
      miss: sMiss,
      'sa-hit': sSaHit,
      'sa-miss': sSaMiss,
    };
    const res: Record<string, number[]> = Object.fromEntries(Object.keys(byMode).map((m) => [m, []]));
    const rounds = 4;
    const per = Math.ceil(N / rounds);
    for (let r = 0; r < rounds; r++) {
      for (const [mode, s] of Object.entries(byMode)) res[mode]?.push(...(await timeLogins(s, key, per)));
    }
    // How often sshd runs the command per login (query + signature check), from the audit lines.
    const auditBefore = syslog.lines().length;
    await timeLogins(sHit, key, 4);
    const perLogin = (syslog.lines().length - auditBefore) / 5;

    // The script agent alone, as its own user, answering from the fresh cache (the standalone
    // one alone: bench/agent.ts).
    const aloneScript: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      const r = spawnSync(agent, ['--config', config(3600), LOCAL, key.fingerprint], {
        uid: ids.uid,
        gid: ids.gid,
        env: { PATH: '/usr/bin:/bin', HOME: join(dir, 'agent-home') },
        encoding: 'utf8',
      });
      aloneScript.push(performance.now() - t);
      if (r.status !== 0 || !r.stdout.includes(key.blob)) throw new Error(`agent run failed: ${r.stderr}`);
    }

    const base = stats(res.static as number[]).median;
    console.log(
      `ssh login to 127.0.0.1, ${res.static?.length} logins per mode (interleaved), node ${process.version}`,
    );
    console.log('mode     median ms   p90 ms   min ms   median vs static');
    for (const [mode, ms] of Object.entries(res)) {
      const s = stats(ms);
      console.log(
        `${mode.padEnd(8)} ${s.median.toFixed(1).padStart(9)} ${s.p90.toFixed(1).padStart(8)} ${s.min.toFixed(1).padStart(8)}   ${(s.median / base).toFixed(2)}x`,
      );
    }
    const a = stats(aloneScript);
    console.log(
      `agent alone (script, cache hit, with fingerprint, incl. audit via logger): median ${a.median.toFixed(1)} ms, p90 ${a.p90.toFixed(1)} ms; sshd runs it ${perLogin.toFixed(1)}x per login`,
    );
    console.log(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} CPUs`,
    );
    syslog.stop();
  } finally {
    for (const s of servers) await s.stop();
    await moto.stop();
    removeLocalUser(LOCAL);
    removeLocalUser(AGENT_USER);
    removeDir(dir);
  }
}

main().catch((e) => {
  console.error(`bench/login: ${(e as Error).message}`);
  process.exitCode = 1;
});
