// Scale benchmark of the publisher: USERS x KEYS keys and GROUPS groups in a
// real moto_server, behind a loopback proxy that pages IAM lists as IAM does
// and, with --rate N, answers IAM's Throttling error above N requests/s.
// A first import (with --budget S: a series of runs, each stopping after S
// seconds and continuing from the saved progress, as the Lambda does), then a
// steady-state run. Prints IAM calls by action, HTTP attempts, throttled
// answers, S3 calls and wall time; the last line is the same as JSON.
// Usage: npx tsx bench/scale.ts USERS KEYS GROUPS [--rate N] [--budget S] [--concurrency C]
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { startAwsProxy } from '../dev/aws-proxy.js';
import { makeKey } from '../dev/keys.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';
import { clientsFor } from '../dev/publisher.js';
import { iamRateLimit } from '../dev/rate-limit.js';
import { countCalls } from '../lambda/call-counter.js';
import { createClients } from '../lambda/clients.js';
import { mapLimit } from '../lambda/map-limit.js';
import {
  DEFAULT_PUBLISH_CONFIG,
  PublishIncomplete,
  type PublishSummary,
  publish,
} from '../lambda/publish.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const rate = opt('--rate');
const budget = opt('--budget');
const concurrency = opt('--concurrency') ?? DEFAULT_PUBLISH_CONFIG.concurrency;
const [users = 500, keysPerUser = 5, groups = 300] = args.map(Number);
if (keysPerUser > 5) throw new Error('IAM allows at most 5 SSH keys per user');

const moto = await startMoto();
const limit = rate ? iamRateLimit(rate) : undefined;
// 1000 per GetAccountAuthorizationDetails page: the MaxItems the publisher asks for.
const proxy = await startAwsProxy(moto.endpoint, {
  iamPageSize: 1000,
  ...(limit ? { fault: limit.fault } : {}),
});
try {
  const direct = clientsFor(moto.endpoint);
  const t0 = performance.now();
  await direct.s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
  await mapLimit(
    Array.from({ length: groups }, (_, g) => g),
    16,
    (g) => direct.iam.send(new CreateGroupCommand({ GroupName: `group${g}` })),
  );
  await mapLimit(
    Array.from({ length: users }, (_, i) => i),
    16,
    async (i) => {
      const name = i % 10 === 0 ? `user${i}+ops@example.com` : `user${i}`;
      await direct.iam.send(new CreateUserCommand({ UserName: name }));
      await Promise.all(
        Array.from({ length: keysPerUser }, (_, k) =>
          direct.iam.send(
            new UploadSSHPublicKeyCommand({
              UserName: name,
              SSHPublicKeyBody: makeKey(k % 2 === 0 ? 'ed25519' : 'ecdsa').openssh,
            }),
          ),
        ),
      );
      if (groups > 0) {
        for (const g of new Set([i % groups, (i * 7 + 3) % groups])) {
          await direct.iam.send(new AddUserToGroupCommand({ GroupName: `group${g}`, UserName: name }));
        }
      }
    },
  );
  const seedS = (performance.now() - t0) / 1000;
  console.log(
    `fixture: ${users} users x ${keysPerUser} keys, ${groups} groups, seeded in ${seedS.toFixed(1)} s`,
  );
  console.log(
    `limit: ${rate ? `${rate} IAM requests/s (token bucket, burst ${rate})` : 'none'}; budget per run: ${budget ? `${budget} s` : 'none'}; concurrency ${concurrency}`,
  );

  // The publisher's own clients (adaptive retries, timeouts), pointed at the proxy.
  const clients = createClients({
    env: { AWS_ENDPOINT_URL: proxy.endpoint, AWS_REGION: TEST_REGION },
  });
  process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  const counts = countCalls(clients.iam);
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const fmt = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') || 'none';

  const phase = async (label: string) => {
    for (const m of [counts.calls, counts.attempts]) for (const k of Object.keys(m)) delete m[k];
    limit?.reset();
    proxy.clear();
    const start = performance.now();
    const runs: { seconds: number; complete: boolean; usersRead?: number; bodies?: number }[] = [];
    let summary: PublishSummary | undefined;
    for (let i = 0; i < 100 && !summary; i++) {
      const runStart = performance.now();
      const r = await publish(
        {
          ...DEFAULT_PUBLISH_CONFIG,
          bucket: 'bench',
          prefix: '',
          concurrency,
          ...(budget ? { deadline: Date.now() + budget * 1000 } : {}),
        },
        { ...clients, now: () => new Date() },
      );
      if (!(r instanceof PublishIncomplete)) {
        summary = r.summary;
        runs.push({ seconds: (performance.now() - runStart) / 1000, complete: true });
      } else
        runs.push({
          seconds: (performance.now() - runStart) / 1000,
          complete: false,
          usersRead: r.progress.usersRead,
          bodies: r.progress.keyBodiesFetched,
        });
    }
    if (!summary) throw new Error(`${label}: did not complete in 100 runs`);
    const seconds = (performance.now() - start) / 1000;
    const s3: Record<string, number> = {};
    for (const q of proxy.requests) if (q.service === 's3') s3[q.action] = (s3[q.action] ?? 0) + 1;
    const iamCalls = sum(counts.calls);
    console.log(
      `${label}: ${seconds.toFixed(1)} s in ${runs.length} run(s) [${runs.map((r) => `${r.seconds.toFixed(0)} s${r.complete ? '' : ` (${r.usersRead} users, ${r.bodies} bodies)`}`).join(', ')}]; ` +
        `users ${summary.users}, keys ${summary.keys}; added ${summary.added}, unchanged ${summary.unchanged}`,
    );
    console.log(
      `  IAM calls:    ${fmt(counts.calls)} (total ${iamCalls}, ${(iamCalls / seconds).toFixed(1)}/s)`,
    );
    console.log(`  IAM attempts: ${fmt(counts.attempts)} (total ${sum(counts.attempts)})`);
    if (limit) console.log(`  throttled:    ${fmt(limit.throttled)} (total ${sum(limit.throttled)})`);
    console.log(`  S3 calls:     ${fmt(s3)}`);
    return {
      label,
      seconds: Number(seconds.toFixed(1)),
      runs: runs.length,
      iamCalls: { ...counts.calls },
      iamAttempts: sum(counts.attempts),
      throttled: limit ? sum(limit.throttled) : 0,
      s3,
    };
  };
  const first = await phase('first import');
  const steady = await phase('steady run  ');
  // What hosts download: index.json (iamUsers mode, sync-users) and the largest group object.
  const sizes: Record<string, number> = {};
  for await (const page of paginateListObjectsV2({ client: direct.s3 }, { Bucket: 'bench' })) {
    for (const o of page.Contents ?? []) {
      const kind = o.Key === 'index.json' ? 'index.json' : (o.Key?.split('/')[0] ?? '?');
      sizes[kind] = Math.max(sizes[kind] ?? 0, o.Size ?? 0);
    }
  }
  console.log(`largest objects (bytes): ${fmt(sizes)}`);
  console.log(
    JSON.stringify({
      users,
      keysPerUser,
      groups,
      rate: rate ?? null,
      budget: budget ?? null,
      first,
      steady,
      sizes,
    }),
  );
} finally {
  await proxy.stop();
  await moto.stop();
}
