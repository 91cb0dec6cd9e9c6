// Login latency of the host agent, against a real moto_server: the built
// dist/iam-authorized-keys on a cold cache (S3 GET), on a fresh cache hit, the
// seed design's `aws s3 cp` of the same object, and the `node -e ""` floor.
// The standalone rows are set against their own floor: an empty program
// compiled here the same way (scripts/standalone.mjs: same Bun runtime copy,
// same flags), and `cat` of the cache file shows the physical floor. A program doing only the
// hit's file reads and write (bench/io-floor.cjs), compiled the same way, shows the runtime's. Every row
// runs in a clean environment (what sshd passes: PATH, HOME; no NODE_EXTRA_CA_CERTS).
// The agent runs in its installed form (install rewrites the shebang to the
// absolute node path, and sshd execs it directly), and once more in the
// `#!/usr/bin/env node` form of dist/ to show what the env hop costs.
// The standalone executable (dist/iam-authorized-keys-linux-x64, no node
// needed) gets the same three rows, and so does any other build given as
// BENCH_EXTRA=label=/path[,label=/path] (how the Node SEA candidate was measured).
// A BENCH_EXTRA build whose file starts with `#!` is a script: it is set against node's floor.
// With perf installed (BENCH_CPU=0: not) each command runs once more under `perf stat -e task-clock`:
// the CPU columns, which the load of a shared machine moves far less than wall time.
// With BENCH_IR=1 and valgrind installed, each command's first run is repeated under callgrind: the
// instructions it executes (user space), which neither load nor timer noise moves (node's vary by
// ~3% with its random hash seed). Slow (a few seconds per row), so off by default.
// Prints median wall time, its ratio to the row's floor and peak RSS per row, and the load
// average. Run: npx tsx bench/agent.ts
// (BENCH_RUNS=N to change the number of runs, BENCH_AWS=0 to skip the `aws s3 cp`
// row, BENCH_ENV=0 the #!/usr/bin/env rows; `npm run build` first).
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { get } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { groupKey } from '../contract/layout.js';
import { renderLine } from '../contract/line.js';
import { makeKey } from '../dev/keys.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';
import { dropPageCache, pageCacheNote } from '../dev/page-cache.js';
import { asPublished } from '../dev/s3-objects.js';
import { startSyslogSink } from '../dev/syslog-sink.js';
import { rewriteShebang } from '../host-agent/admin/install/plan.js';
import { RUNTIMES } from '../scripts/runtimes.mjs';
import { compileStandalone } from '../scripts/standalone.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const ROOT = new URL('..', import.meta.url).pathname;
const BUCKET = 'bench-keys';
const TIME = '/usr/bin/time';

interface Sample {
  ms: number;
  rssKb: number | undefined;
  /** CPU time (all threads) from `perf stat -e task-clock`, a second run of the same command: load moves it far less than wall time. */
  cpuMs?: number;
  /** Instructions executed (callgrind), on the first run of each command only (BENCH_IR=1). */
  instructions?: number;
}
const PERF = ['/usr/bin/perf', '/usr/local/bin/perf'].find((p) => existsSync(p));
const withCpu = PERF !== undefined && process.env.BENCH_CPU !== '0';
const VALGRIND = process.env.BENCH_IR === '1' ? '/usr/bin/valgrind' : undefined;
if (VALGRIND && !existsSync(VALGRIND)) throw new Error('BENCH_IR=1 needs valgrind: apt-get install valgrind');
/** Set by the loop: this round's commands are also counted under callgrind, after every timed run. */
let countInstructions = false;
/**
 * The counts, run once the timing is done: valgrind reads the whole executable, and the page cache it
 * leaves would make every later run look like one of an executable just written.
 */
const pendingCounts: (() => void)[] = [];

/** Instructions `cmd` executes, from callgrind's summary line. */
function instructions(cmd: string[], env: NodeJS.ProcessEnv, check: (stdout: string) => void): number {
  const args = ['--tool=callgrind', '--callgrind-out-file=/dev/null', '--', ...cmd];
  const r = spawnSync(VALGRIND as string, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind ${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  check(r.stdout);
  const refs = /I\s+refs:\s+([\d,]+)/.exec(r.stderr)?.[1];
  if (!refs) throw new Error(`callgrind printed no instruction count for ${cmd.join(' ')}`);
  return Number(refs.replaceAll(',', ''));
}

const noReset = () => {};

/** One run: wall time around the child, peak RSS from /usr/bin/time -f %M when present. */
function measure(
  cmd: string[],
  env: NodeJS.ProcessEnv,
  check: (stdout: string) => void,
  /** Runs before each of the (up to two) runs: a cold row empties the cache each time. */
  reset: () => void = noReset,
  /** For the instruction count of a hit row: empties the cache, which the command's own run then fills. */
  refill: () => void = noReset,
): Sample {
  reset();
  const useTime = existsSync(TIME);
  const argv = useTime ? [TIME, '-f', 'MAXRSS=%M', ...cmd] : cmd;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0] as string, argv.slice(1), { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  check(r.stdout);
  const rss = /MAXRSS=(\d+)/.exec(r.stderr)?.[1];
  const sample: Sample = { ms, rssKb: rss ? Number(rss) : undefined };
  if (withCpu && PERF) {
    reset();
    const p = spawnSync(PERF, ['stat', '-x,', '-e', 'task-clock', '--', ...cmd], { env, encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`perf stat ${cmd.join(' ')} exited ${p.status}: ${p.stderr}`);
    check(p.stdout);
    const cpu = /^([\d.]+),[^,]*,task-clock/m.exec(p.stderr)?.[1];
    if (cpu) sample.cpuMs = Number(cpu);
  }
  // Rows without a reset only: a cold row waits on the network (and under valgrind's slowdown its deadline).
  // Not FINGERPRINT rows either: each run sends an audit line, and the bench counts them.
  if (countInstructions && VALGRIND && reset === noReset && !cmd.some((a) => a.startsWith('SHA256:'))) {
    pendingCounts.push(() => {
      // One plain run first, on an empty cache: a hit row counts a hit on an entry its own build wrote
      // (the standalone writes CRC-32 entries, node entrySum ones; each reads the other's more slowly).
      refill();
      spawnSync(cmd[0] as string, cmd.slice(1), { env, encoding: 'utf8' });
      sample.instructions = instructions(cmd, env, check);
    });
  }
  return sample;
}

/** One unsigned GET from this (warm) process: the server's share of a cold run. */
function serverGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    get(url, (res) => {
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
    }).on('error', reject);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The row's instruction count in millions, and what it adds to its floor's. */
function instructionsOf(samples: Sample[], floor?: Sample[]): string {
  const n = samples.find((x) => x.instructions !== undefined)?.instructions;
  const f = floor?.find((x) => x.instructions !== undefined)?.instructions;
  if (n === undefined) return 'n/a';
  return `${(n / 1e6).toFixed(2)}${f !== undefined ? ` (+${((n - f) / 1e6).toFixed(2)})` : ''}`;
}

function row(name: string, samples: Sample[], floor?: Sample[]) {
  const ms = median(samples.map((s) => s.ms));
  const rss = samples.map((s) => s.rssKb).filter((x): x is number => x !== undefined);
  const cpu = samples.map((s) => s.cpuMs).filter((x): x is number => x !== undefined);
  const floorCpu = floor?.map((s) => s.cpuMs).filter((x): x is number => x !== undefined) ?? [];
  const cpuMs = cpu.length ? median(cpu) : undefined;
  return {
    name,
    medianMs: ms.toFixed(1),
    xFloor: floor ? (ms / median(floor.map((s) => s.ms))).toFixed(2) : '1.00',
    cpuMs: cpuMs?.toFixed(1) ?? 'n/a',
    xFloorCpu: cpuMs === undefined ? 'n/a' : floorCpu.length ? (cpuMs / median(floorCpu)).toFixed(2) : '1.00',
    peakRssMiB: rss.length ? (Math.max(...rss) / 1024).toFixed(1) : 'n/a',
    ...(VALGRIND ? { instructionsM: instructionsOf(samples, floor) } : {}),
  };
}

async function main() {
  const dist = join(ROOT, 'dist/iam-authorized-keys');
  if (!existsSync(dist)) throw new Error('dist/iam-authorized-keys missing: run `npm run build` first');
  const work = mkdtempSync(join(tmpdir(), 'iak-bench-'));
  // Outside the repo, as installed on a host (the repo's package.json says "type": "module"):
  // the installed form execs node directly, the dist/ form goes through /usr/bin/env.
  const agent = join(work, 'iam-authorized-keys');
  writeFileSync(agent, rewriteShebang(readFileSync(dist), process.execPath), { mode: 0o755 });
  chmodSync(agent, 0o755);
  const envAgent = join(work, 'iam-authorized-keys-env');
  copyFileSync(dist, envAgent);

  const moto = await startMoto();
  const syslog = await startSyslogSink(work);
  try {
    const s3 = new S3Client({
      region: TEST_REGION,
      endpoint: moto.endpoint,
      forcePathStyle: true,
      credentials: TEST_CREDENTIALS,
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // A realistic group object: 50 members with one key each.
    const keys = Array.from({ length: 50 }, (_, i) => ({ owner: `user${i}`, key: makeKey() }));
    const body = keys.map((k) => renderLine(k.owner, k.key)).join('');
    const key = groupKey('', 'Admins');
    await s3.send(new PutObjectCommand(asPublished(BUCKET, key, body)));
    const picked = keys[7] as (typeof keys)[number];
    const fp = picked.key.fingerprint;
    const fpLine = renderLine(picked.owner, picked.key);

    const env: NodeJS.ProcessEnv = {
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: work,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      AWS_DEFAULT_REGION: TEST_REGION,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const cacheDir = join(work, 'cache');
    const config = join(work, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        users: { 'ec2-user': ['groups/Admins'] },
        cache: { dir: cacheDir, ttlSeconds: 3600, maxStaleSeconds: 86400 },
        // A real datagram socket standing in for /dev/log: the FINGERPRINT row pays for logger.
        syslogSocket: syslog.socket,
      }),
    );
    const agentCmd = [agent, '--config', config, 'ec2-user'];
    // The standalone runtime's floor: an empty program, compiled like the agent.
    const hostRuntime = RUNTIMES.find((r) => r.cpu === process.arch);
    if (!hostRuntime) throw new Error(`no Bun runtime for ${process.arch}`);
    const emptyInput = join(work, 'empty.cjs');
    writeFileSync(emptyInput, '');
    const emptyProgram = compileStandalone(hostRuntime, emptyInput, 'empty-program', work);
    // The hit's file work alone (bench/io-floor.cjs), compiled the same way: what a hit cannot go below.
    const ioFloorInput = join(work, 'io-floor.cjs');
    copyFileSync(join(ROOT, 'bench/io-floor.cjs'), ioFloorInput);
    const ioFloorProgram = compileStandalone(hostRuntime, ioFloorInput, 'io-floor', work);
    // Standalone builds (and script builds given as BENCH_EXTRA): each gets a cold, a hit and a hit + FINGERPRINT row.
    const standalone = join(ROOT, `dist/iam-authorized-keys-${hostRuntime.target}`);
    const extras = [
      ...(existsSync(standalone) ? [{ label: 'standalone', path: standalone }] : []),
      ...(process.env.BENCH_EXTRA ?? '')
        .split(',')
        .filter(Boolean)
        .map((e) => ({ label: e.slice(0, e.indexOf('=')), path: e.slice(e.indexOf('=') + 1) })),
    ].map((x, i) => {
      const script = readFileSync(x.path).subarray(0, 2).toString() === '#!';
      // A script runs in its installed form (absolute node path), outside the repo.
      const path = script ? join(work, `extra-${i}`) : x.path;
      if (script)
        writeFileSync(path, rewriteShebang(readFileSync(x.path), process.execPath), { mode: 0o755 });
      return { ...x, path, script, cold: [] as Sample[], hit: [] as Sample[], hitFp: [] as Sample[] };
    });
    const envAgentCmd = [envAgent, '--config', config, 'ec2-user'];
    const expectEntry = (file: string) => (out: string) => {
      if (out !== readFileSync(file, 'utf8')) throw new Error('io-floor output differs from the cache entry');
    };
    const expectAll = (out: string) => {
      if (out !== body) throw new Error('agent output differs from the object');
    };

    const floor: Sample[] = [];
    const emptyFloor: Sample[] = [];
    const catFloor: Sample[] = [];
    const ioFloor: Sample[] = [];
    const cold: Sample[] = [];
    const hit: Sample[] = [];
    const hitFp: Sample[] = [];
    const coldEnv: Sample[] = [];
    const hitEnv: Sample[] = [];
    const awsCp: Sample[] = [];
    // The real aws entry point, not a pyenv shim (whose bash start-up would be billed to aws).
    const awsBin = spawnSync('sh', ['-c', '(pyenv which aws || command -v aws) 2>/dev/null'], {
      encoding: 'utf8',
    }).stdout.trim();
    // BENCH_AWS=0 skips the slow seed-design row (for quick iterations).
    const haveAws = awsBin !== '' && process.env.BENCH_AWS !== '0';
    // BENCH_ENV=0 skips the #!/usr/bin/env rows.
    const withEnvForm = process.env.BENCH_ENV !== '0';
    // The FINGERPRINT row must really audit every run (logger writes after the agent exits).
    const audited = () => syslog.lines().filter((l) => l.includes('key-matched')).length;
    const waitForAudit = async (n: number) => {
      for (let i = 0; i < 250 && audited() < n; i++) await new Promise((r) => setTimeout(r, 20));
      if (audited() < n) throw new Error(`expected ${n} audit lines, syslog got ${audited()}`);
    };
    const fpCheck = (label: string) => (o: string) => {
      if (o !== fpLine) throw new Error(`${label}: fingerprint output differs`);
    };
    const emptyCache = () => rmSync(cacheDir, { recursive: true, force: true });
    let auditsExpected = 0;
    // A FINGERPRINT command runs twice with the CPU columns (once timed, once under perf): two audits.
    const auditsPerRow = withCpu ? 2 : 1;
    // Every executable is written by now (the empty program, the extras' installed copies): measure them as a host
    // runs them, not as they sit in the page cache just after writing (dev/page-cache.ts).
    const pageCache = dropPageCache();
    const load0 = loadavg();
    // Interleaved so that background load on the shared machine hits every row alike.
    for (let i = 0; i < RUNS; i++) {
      countInstructions = i === 0;
      floor.push(measure([process.execPath, '-e', ''], env, () => {}));
      emptyFloor.push(measure([emptyProgram], env, () => {}));
      cold.push(measure(agentCmd, env, expectAll, emptyCache));
      hit.push(measure(agentCmd, env, expectAll, noReset, emptyCache));
      hitFp.push(measure([...agentCmd, fp], env, fpCheck('script')));
      // Outside the timed region: the detached logger finishes before the next row is timed.
      auditsExpected += auditsPerRow;
      await waitForAudit(auditsExpected);
      for (const x of extras) {
        const cmd = [x.path, '--config', config, 'ec2-user'];
        x.cold.push(measure(cmd, env, expectAll, emptyCache));
        x.hit.push(measure(cmd, env, expectAll, noReset, emptyCache));
        x.hitFp.push(measure([...cmd, fp], env, fpCheck(x.label)));
        auditsExpected += auditsPerRow;
        await waitForAudit(auditsExpected);
      }
      // The physical floor: one process reading the (fresh) cache file; then the runtime's.
      const entryFile = join(cacheDir, readdirSync(cacheDir).find((n) => n.startsWith('o-')) as string);
      catFloor.push(measure(['/bin/cat', entryFile], env, () => {}));
      ioFloor.push(measure([ioFloorProgram, config, entryFile], env, expectEntry(entryFile)));
      if (withEnvForm) {
        coldEnv.push(measure(envAgentCmd, env, expectAll, emptyCache));
        hitEnv.push(measure(envAgentCmd, env, expectAll, noReset, emptyCache));
      }
      if (haveAws) {
        awsCp.push(
          measure(
            [
              awsBin,
              's3',
              'cp',
              `s3://${BUCKET}/${key}`,
              '-',
              '--endpoint-url',
              moto.endpoint,
              '--region',
              TEST_REGION,
            ],
            env,
            expectAll,
          ),
        );
      }
    }
    countInstructions = false;
    const load1 = loadavg();
    for (const count of pendingCounts) count();
    // The issue's reference figure for `node -e ""` (0.10 s) was taken in a login shell's environment;
    // here that environment sets NODE_EXTRA_CA_CERTS, which node parses at every start. sshd passes none
    // of it, so the rows above use a clean environment; this row only explains the difference.
    const shellEnvVars = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'].filter((k) => process.env[k]);
    const shellFloor: Sample[] = [];
    if (shellEnvVars.length > 0) {
      const shellEnv = { ...env, ...Object.fromEntries(shellEnvVars.map((k) => [k, process.env[k]])) };
      for (let i = 0; i < RUNS; i++)
        shellFloor.push(measure([process.execPath, '-e', ''], shellEnv, () => {}));
    }
    const expectedAudits = RUNS * (1 + extras.length) * auditsPerRow;
    if (audited() !== expectedAudits)
      throw new Error(`expected ${expectedAudits} audit lines, syslog got ${audited()}`);
    const serverMs: number[] = [];
    for (let i = 0; i < RUNS; i++) serverMs.push(await serverGet(`${moto.endpoint}/${BUCKET}/${key}`));
    const f = floor;
    const ef = emptyFloor;
    const rows = [
      row('cat of the cache file (physical floor)', catFloor),
      row('node -e "" (script floor)', floor),
      row('empty program, bun --compile --bytecode (standalone floor)', emptyFloor),
      row("the hit's file I/O alone, compiled the same way", ioFloor, ef),
      row('script: cold cache (S3 GET, SigV4)', cold, f),
      row('script: fresh cache hit', hit, f),
      row('script: cache hit + FINGERPRINT (+ logger)', hitFp, f),
      ...extras.flatMap((x) => [
        row(`${x.label}: cold cache`, x.cold, x.script ? f : ef),
        row(`${x.label}: fresh cache hit`, x.hit, x.script ? f : ef),
        row(`${x.label}: hit + FINGERPRINT (+ logger)`, x.hitFp, x.script ? f : ef),
      ]),
      ...(withEnvForm
        ? [
            row('#!/usr/bin/env form, cold cache', coldEnv, f),
            row('#!/usr/bin/env form, fresh cache hit', hitEnv, f),
          ]
        : []),
      ...(haveAws ? [row('aws s3 cp (seed design)', awsCp, f)] : []),
    ];
    console.log(
      `host agent login latency: median of ${RUNS} interleaved runs each, moto at ${moto.endpoint}; ` +
        `xFloor: script rows against node -e "", standalone rows against the empty compiled program`,
    );
    console.table(rows);
    console.log(
      `moto's own latency for one GET of the object (warm client, in-process): ${median(serverMs).toFixed(1)} ms median`,
    );
    if (shellFloor.length > 0) {
      const sf = median(shellFloor.map((x) => x.ms));
      const c = median(cold.map((x) => x.ms));
      console.log(
        `node -e "" with this shell's ${shellEnvVars.join(', ')} (not passed by sshd): ${sf.toFixed(1)} ms median; ` +
          `the cold row is ${(c / sf).toFixed(2)}x that figure`,
      );
    }
    if (!haveAws) console.log(`aws s3 cp: skipped (${awsBin ? 'BENCH_AWS=0' : 'aws CLI not on PATH'})`);
    const la = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
    console.log(`load average: ${la(load0)} before, ${la(load1)} after`);
    console.log(pageCacheNote(pageCache));
    console.log(
      'targets (issue 22): standalone hit <= 1.3x its floor and <= 28 MiB, standalone cold <= 2.5x, script hit <= 1.2x node',
    );
  } finally {
    await moto.stop();
    syslog.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
