// Does a budgeted run end within its budget, and does every run of a series
// progress, under heavy IAM throttling? USERS users (1 key each) in a real
// moto_server behind the loopback proxy, which pages IAM lists by PAGE items
// (moto ignores Marker) and answers IAM's Throttling error to a share of IAM
// requests (a seeded pseudo-random draw: the same requests on every run of the
// bench). Then a series of publish() runs with the product's clients, each
// with a deadline BUDGET seconds after it starts, until one completes; per run
// it prints the wall time, the overrun past the deadline, the users and key
// bodies it added, and how it stopped. Last, the CLI (`publish --time-budget`)
// as a process: its exit time includes any SDK timer left behind.
// Usage: npx tsx bench/budget.ts [USERS] [BUDGET_S] [--throttle SHARE] [--page N] [--runs N] [--cli-runs N]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateUserCommand, UploadSSHPublicKeyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { iamError, seeded, startAwsProxy } from '../dev/aws-proxy.js';
import { makeKey } from '../dev/keys.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';
import { clientsFor } from '../dev/publisher.js';
import { createClients } from '../lambda/clients.js';
import { mapLimit } from '../lambda/map-limit.js';
import { DEFAULT_PUBLISH_CONFIG, PublishIncomplete, publish } from '../lambda/publish.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const share = opt('--throttle', 0.5);
const page = opt('--page', 10);
const cliRuns = opt('--cli-runs', 2);
const maxRuns = opt('--runs', 60);
const [users = 200, budgetS = 3] = args.map(Number);

const moto = await startMoto();
const draw = seeded(17);
let throttled = 0;
const proxy = await startAwsProxy(moto.endpoint, {
  iamPageSize: page,
  fault: (r) => {
    if (r.service !== 'iam' || draw() >= share) return undefined;
    throttled++;
    return iamError('Throttling', 'Rate exceeded');
  },
});
try {
  const direct = clientsFor(moto.endpoint);
  await direct.s3.send(new CreateBucketCommand({ Bucket: 'budget-bench' }));
  await mapLimit(
    Array.from({ length: users }, (_, i) => i),
    16,
    async (i) => {
      await direct.iam.send(new CreateUserCommand({ UserName: `user${i}` }));
      await direct.iam.send(
        new UploadSSHPublicKeyCommand({ UserName: `user${i}`, SSHPublicKeyBody: makeKey('ed25519').openssh }),
      );
    },
  );
  process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const clients = createClients({ env: { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: TEST_REGION } });
  console.log(
    `${users} users x 1 key; IAM pages of ${page}; ${Math.round(share * 100)} % of IAM requests throttled; budget ${budgetS} s per run`,
  );

  const rows: Record<string, unknown>[] = [];
  let prev = { found: 0, read: 0, bodies: 0 };
  let worstOver = Number.NEGATIVE_INFINITY;
  for (let run = 1; run <= maxRuns; run++) {
    const t0 = performance.now();
    const deadline = Date.now() + budgetS * 1000;
    let line: string;
    let done = false;
    const e = await publish(
      { ...DEFAULT_PUBLISH_CONFIG, bucket: 'budget-bench', prefix: '', deadline },
      { ...clients, now: () => new Date() },
    );
    if (!(e instanceof PublishIncomplete)) {
      line = `complete: ${e.summary.users} users, ${e.summary.keys} keys published`;
      done = true;
    } else {
      // Older publishers have no usersFound/stop: read them loosely.
      const p = e.progress as typeof e.progress & { usersFound?: number };
      const stop = (e as { stop?: { phase: string; abortedCalls: number; cutWaits: number } }).stop;
      const now = { found: p.usersFound ?? 0, read: p.usersRead, bodies: p.keyBodiesFetched };
      line =
        `+${now.found - prev.found} users found, +${now.read - prev.read} key lists, +${now.bodies - prev.bodies} bodies` +
        (stop
          ? `; stopped in ${stop.phase}, ${stop.abortedCalls} calls aborted, ${stop.cutWaits} waits cut`
          : '') +
        (e.message.startsWith('time budget too small') ? `; ${e.message}` : '');
      prev = now;
    }
    const wall = (performance.now() - t0) / 1000;
    const over = (Date.now() - deadline) / 1000;
    worstOver = Math.max(worstOver, over);
    console.log(
      `run ${run}: ${wall.toFixed(2)} s (${over >= 0 ? `${over.toFixed(2)} s past` : `${(-over).toFixed(2)} s before`} the deadline); ${line}`,
    );
    rows.push({ run, wall: Number(wall.toFixed(2)), over: Number(over.toFixed(2)), done });
    if (done) break;
  }
  console.log(`throttled IAM answers: ${throttled}; worst overrun: ${worstOver.toFixed(2)} s`);

  // The CLI as a process (dist/iam-ssh-keys: `node scripts/build.mjs` first; a fresh bucket prefix,
  // so a first import again). Its wall time includes start-up, so `help` is timed too.
  const exec = promisify(execFile);
  const env = { ...process.env, AWS_REGION: TEST_REGION };
  const timed = async (argv: string[]) => {
    const t0 = performance.now();
    const r = await exec(process.execPath, ['dist/iam-ssh-keys', ...argv], { env }).then(
      (x) => ({ code: 0, out: x.stdout + x.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    return { ...r, s: (performance.now() - t0) / 1000 };
  };
  const help = await timed(['help']);
  console.log(`cli start-up (help): ${help.s.toFixed(2)} s`);
  for (let i = 1; i <= cliRuns; i++) {
    const r = await timed([
      'publish',
      '--bucket',
      'budget-bench',
      '--prefix',
      'cli/',
      '--time-budget',
      String(budgetS),
    ]);
    console.log(
      `cli run ${i}: exit ${r.code} after ${r.s.toFixed(2)} s: ${r.out.trim().split('\n').slice(-2).join(' | ')}`,
    );
  }
  console.log(JSON.stringify({ users, budgetS, share, page, throttled, runs: rows }));
} finally {
  await proxy.stop();
  await moto.stop();
}
