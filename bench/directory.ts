// What hosts read at IAM's limit of 5,000 users: index.json (what agents read
// before) against directory.json + heartbeat.json. The objects come from
// render() on a synthetic snapshot (USERS users with email-style names, KEYS
// synthetic RSA-2048 keys each, every user in 2 of 50 groups): sizes, bytes
// per host per publish, parse times. Then the standalone agent
// (dist/iam-authorized-keys-linux-x64) in iamUsers mode against a real
// moto_server holding those objects: a cache miss, a 304 revalidation and a
// hit, and `sync-users --dry-run` (reads the directory, plans 5,000 accounts).
// BENCH_OLD_AGENT=/path runs an agent of the previous release on index.json
// for the "before" rows. Usage: npx tsx bench/directory.ts [USERS] [KEYS]
// (`npm run build` first; BENCH_RUNS=N runs per row, median printed).
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  directoryKey,
  heartbeatKey,
  indexKey,
  MAX_HOST_OBJECT_BYTES,
  parseDirectory,
  parseIndex,
  serializeHeartbeat,
  serializeIndex,
  userKey,
} from '../contract/index.js';
import { syntheticRsaKey } from '../dev/keys.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';
import { asPublished } from '../dev/s3-objects.js';
import { decodeEntry, encodeEntry } from '../host-agent/cache.js';
import type { IamSnapshot } from '../lambda/iam-source.js';
import { render } from '../lambda/render.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const [USERS = 5000, KEYS = 5] = process.argv.slice(2).map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ROOT = new URL('..', import.meta.url).pathname;
const AGENT = join(ROOT, 'dist', 'iam-authorized-keys-linux-x64');
const BUCKET = 'bench-directory';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

function snapshot(): IamSnapshot {
  const bodies = new Map<string, string>();
  const users = Array.from({ length: USERS }, (_, i) => {
    const keys = Array.from({ length: KEYS }, (_, k) => {
      const id = `APKA${String(i * KEYS + k).padStart(17, '0')}`;
      bodies.set(id, syntheticRsaKey(i * KEYS + k));
      return { id, status: 'Active' as const, uploadDate: new Date('2025-01-01T00:00:00Z') };
    });
    return {
      name: `first.last${i}@corp.com`,
      id: `AIDA${String(i).padStart(17, '0')}`,
      groups: ['Developers', `team-${i % 49}`],
      keys,
      tags: [],
    };
  });
  const groups = ['Developers', ...Array.from({ length: 49 }, (_, g) => `team-${g}`)];
  return { users, groups, bodies };
}

function timeMs(f: () => void, runs = RUNS): number {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

const snap = snapshot();
const rendered = render(snap, undefined, { prefix: '', uidBase: 20000, now: new Date() });
const index = serializeIndex(rendered.index);
const { directory } = rendered;
const heartbeat = serializeHeartbeat(rendered.index.generatedAt);
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
console.log(`${USERS} users x ${KEYS} RSA-2048 keys, 50 groups (email-style names)`);
console.log(
  `index.json      ${mib(bytes(index))} (${Math.round(bytes(index) / USERS)} B/user)${bytes(index) > MAX_HOST_OBJECT_BYTES ? '  OVER the 8 MiB host limit' : ''}`,
);
console.log(`directory.json  ${kib(bytes(directory))} (${Math.round(bytes(directory) / USERS)} B/user)`);
console.log(`heartbeat.json  ${bytes(heartbeat)} B`);
console.log(
  `parse: index.json ${timeMs(() => parseIndex(index)).toFixed(1)} ms, directory.json ${timeMs(() => parseDirectory(directory)).toFixed(1)} ms (median of ${RUNS}, in process)`,
);
console.log('bytes per host per publish (every run changes the heartbeat; IAM data unchanged):');
console.log(`  before: index.json rewritten every run: ${mib(bytes(index))} body per revalidation`);
console.log(
  `  after: heartbeat.json ${bytes(heartbeat)} B + directory.json 304 (no body); when IAM changed: ${kib(bytes(directory))}`,
);

if (!existsSync(AGENT)) {
  console.log(`agent rows skipped: ${AGENT} missing (npm run build)`);
  process.exit(0);
}

const moto = await startMoto();
const work = mkdtempSync(join(tmpdir(), 'bench-directory-'));
try {
  const s3 = new S3Client({
    region: TEST_REGION,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const who = snap.users[USERS - 1] as IamSnapshot['users'][number];
  const entry = rendered.index.users[who.name];
  const local = entry?.localName as string;
  const put = (Key: string, Body: string) => s3.send(new PutObjectCommand(asPublished(BUCKET, Key, Body)));
  await put(indexKey(''), index);
  await put(directoryKey(''), directory);
  await put(heartbeatKey(''), heartbeat);
  await put(userKey('', who.name), rendered.objects.get(userKey('', who.name)) ?? '');
  writeFileSync(join(work, 'passwd'), `${local}:x:${entry?.uid}:${entry?.uid}::/home/${local}:/bin/sh\n`);
  const cacheDir = join(work, 'cache');
  const config = join(work, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      bucket: BUCKET,
      region: TEST_REGION,
      endpoint: moto.endpoint,
      iamUsers: { allowGroups: ['Developers'] },
      cache: { dir: cacheDir, ttlSeconds: 30, maxStaleSeconds: 86400 },
      passwdFile: join(work, 'passwd'),
      deadlineMs: 10000,
      syncUsers: { markerGroup: 'iam-synced-users' },
    }),
  );
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  };
  const agentCopy = join(work, 'iam-authorized-keys');
  copyFileSync(AGENT, agentCopy);
  const run = (bin: string, args: string[], prepare: () => void) => {
    const xs: number[] = [];
    let last = { status: 0 as number | null, stdout: '', stderr: '' };
    for (let i = 0; i < RUNS; i++) {
      prepare();
      const t = performance.now();
      const r = spawnSync(bin, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      xs.push(performance.now() - t);
      last = { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }
    return { ms: median(xs), ...last };
  };
  const cold = () => rmSync(cacheDir, { recursive: true, force: true });
  const aged = () => {
    // Every entry past ttlSeconds: the next login revalidates (a 304 for the unchanged directory).
    for (const name of readdirSync(cacheDir).filter((n) => n.startsWith('o-'))) {
      const buf = readFileSync(join(cacheDir, name));
      const key = JSON.parse(buf.subarray(0, buf.indexOf(10)).toString()).key;
      const e = decodeEntry(buf, key);
      if (typeof e !== 'string') writeFileSync(join(cacheDir, name), encodeEntry({ ...e, fetchedAt: 0 }));
    }
  };
  const row = (label: string, r: { ms: number; status: number | null; stdout: string; stderr: string }) =>
    console.log(
      `${label.padEnd(44)} ${r.ms.toFixed(0).padStart(6)} ms  exit ${r.status}  ${r.stdout.split('\n').filter(Boolean).length} lines${r.status === 0 ? '' : `  (${r.stderr.trim().split('\n').at(-1)})`}`,
    );
  const login = [agentCopy, ['--config', config, local]] as const;
  row('agent, iamUsers, cache miss', run(login[0], [...login[1]], cold));
  row('agent, iamUsers, 304 revalidation', run(login[0], [...login[1]], aged));
  row(
    'agent, iamUsers, cache hit',
    run(login[0], [...login[1]], () => {}),
  );
  row(
    'sync-users --dry-run (5,000 accounts planned)',
    run(agentCopy, ['sync-users', '--dry-run', '--config', config], () => {}),
  );
  const old = process.env.BENCH_OLD_AGENT;
  if (old) {
    const oldCopy = join(work, 'old-agent');
    copyFileSync(old, oldCopy);
    row('before: old agent, cache miss (index.json)', run(oldCopy, ['--config', config, local], cold));
    row(
      'before: old sync-users --dry-run',
      run(oldCopy, ['sync-users', '--dry-run', '--config', config], () => {}),
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  await moto.stop();
}
