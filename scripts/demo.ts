// `npm run demo`: the whole product on a local emulator, with the real programs.
// Starts moto_server (IAM + S3), creates IAM users, groups and SSH keys, publishes
// them with `dist/iam-ssh-keys publish`, then asks `dist/iam-authorized-keys` (what
// sshd runs at login) for the keys of a few local accounts. Stops moto at the end.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  IAMClient,
  UpdateSSHPublicKeyCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { cloudTrailEvent } from '../dev/cloudtrail.js';
import { makeKey } from '../dev/keys.js';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../dev/moto.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const BUCKET = 'company-ssh-keys';
const root = process.cwd();
const step = (title: string) => console.log(`\n=== ${title}`);

execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
const moto = await startMoto();
const work = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-demo-'));
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  AWS_REGION: TEST_REGION,
  AWS_ENDPOINT_URL: moto.endpoint,
  AWS_EC2_METADATA_DISABLED: 'true',
};
function run(program: string, args: string[]): string {
  const r = spawnSync(join(root, 'dist', program), args, { env, encoding: 'utf8' });
  const shown = args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ');
  console.log(`$ ${program} ${shown}   # exit ${r.status}`);
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stdout.write(r.stderr.replace(/^(?=.)/gm, '  stderr: '));
  return r.stdout;
}

try {
  const common = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
  const iam = new IAMClient(common);
  const s3 = new S3Client({ ...common, forcePathStyle: true });

  step(`IAM on moto at ${moto.endpoint}: groups, users and their SSH keys`);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const g of ['Administrators', 'Developers']) await iam.send(new CreateGroupCommand({ GroupName: g }));
  const people = [
    { name: 'alice', groups: ['Administrators', 'Developers'], keys: ['ed25519', 'rsa'] as const },
    { name: 'bob+ops@example.com', groups: ['Developers'], keys: ['ecdsa'] as const },
    { name: 'carol', groups: [], keys: ['ed25519'] as const },
  ];
  const keyIds = new Map<string, string[]>();
  const fingerprints = new Map<string, string>();
  for (const p of people) {
    await iam.send(new CreateUserCommand({ UserName: p.name }));
    for (const g of p.groups) await iam.send(new AddUserToGroupCommand({ GroupName: g, UserName: p.name }));
    for (const kind of p.keys) {
      const key = makeKey(kind);
      const res = await iam.send(
        new UploadSSHPublicKeyCommand({
          UserName: p.name,
          SSHPublicKeyBody: `${key.openssh} ${p.name}@laptop`,
        }),
      );
      keyIds.set(p.name, [...(keyIds.get(p.name) ?? []), res.SSHPublicKey?.SSHPublicKeyId ?? '']);
      fingerprints.set(p.name, fingerprints.get(p.name) ?? key.fingerprint);
    }
    console.log(`${p.name}: groups [${p.groups.join(', ')}], keys ${p.keys.join(', ')}`);
  }

  step('Publish (dry run, then for real): the same code as the Lambda');
  run('iam-ssh-keys', ['publish', '--bucket', BUCKET, '--dry-run']);
  run('iam-ssh-keys', ['publish', '--bucket', BUCKET]);
  const listing = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  console.log(`\ns3://${BUCKET}/`);
  for (const o of listing.Contents ?? []) console.log(`  ${o.Key}  (${o.Size} bytes)`);
  const admins = await s3.send(
    new GetObjectCommand({ Bucket: BUCKET, Key: 'groups/Administrators/authorized_keys' }),
  );
  console.log('\ngroups/Administrators/authorized_keys:');
  process.stdout.write((await admins.Body?.transformToString()) ?? '');

  step('A second run: nothing changed, so only the index.json heartbeat is written');
  run('iam-ssh-keys', ['publish', '--bucket', BUCKET]);
  run('iam-ssh-keys', ['status', '--bucket', BUCKET]);

  step('The host agent, as sshd runs it (AuthorizedKeysCommand iam-authorized-keys -- %u %f)');
  const cacheDir = join(work, 'cache');
  // A stand-in for /dev/log, so the audit lines can be shown.
  const syslogSocket = join(work, 'syslog.sock');
  const syslogFile = join(work, 'syslog.txt');
  const syslog = spawn('python3', [
    '-c',
    'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nf=open(sys.argv[2],"ab",0)\nwhile True: f.write(s.recv(65536)+b"\\n")',
    syslogSocket,
    syslogFile,
  ]);
  for (let i = 0; i < 50 && !existsSync(syslogSocket); i++) await new Promise((r) => setTimeout(r, 50));
  const config = join(work, 'iam-authorized-keys.json');
  // iamUsers mode maps only local accounts that carry the published uid (as `sync-users` creates
  // them): stand in for /etc/passwd with bob's account.
  const indexObject = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'index.json' }));
  const published = JSON.parse((await indexObject.Body?.transformToString()) ?? '{}');
  const bobUid = published.users?.['bob+ops@example.com']?.uid;
  const passwdFile = join(work, 'passwd');
  writeFileSync(passwdFile, `bob.plus.ops.at.example.com:x:${bobUid}:${bobUid}::/home/bob:/bin/sh\n`);
  writeFileSync(
    config,
    JSON.stringify(
      {
        bucket: BUCKET,
        region: TEST_REGION,
        endpoint: moto.endpoint,
        users: { 'ec2-user': ['groups/Administrators'] },
        iamUsers: { allowGroups: ['Developers'] },
        cache: { dir: cacheDir, ttlSeconds: 30, maxStaleSeconds: 86400 },
        syslogSocket,
        passwdFile,
      },
      null,
      2,
    ),
    { mode: 0o644 },
  );
  chmodSync(work, 0o755);
  console.log(
    `config ${config}: ec2-user <- groups/Administrators; IAM users in Developers log in as themselves`,
  );
  console.log(
    `(local account bob.plus.ops.at.example.com has the published uid ${bobUid}, as sync-users makes it)`,
  );
  run('iam-authorized-keys', ['--config', config, 'ec2-user']);
  run('iam-authorized-keys', ['--config', config, 'bob.plus.ops.at.example.com']);
  console.log('# carol is in no allowed group, and "nobody" maps to nothing: no keys, exit 0');
  run('iam-authorized-keys', ['--config', config, 'carol']);
  run('iam-authorized-keys', ['--config', config, 'nobody']);
  console.log("# with sshd's %f only the offered key is printed (and an audit line goes to syslog)");
  run('iam-authorized-keys', ['--config', config, 'ec2-user', fingerprints.get('alice') ?? '']);
  // logger runs detached from the agent: give it a moment to deliver.
  const received = () => (existsSync(syslogFile) ? readFileSync(syslogFile, 'utf8') : '');
  for (let i = 0; i < 150 && received() === ''; i++) await new Promise((r) => setTimeout(r, 20));
  console.log(
    `syslog received:\n${existsSync(syslogFile) ? readFileSync(syslogFile, 'utf8') : '(nothing)\n'}`,
  );
  syslog.kill();
  console.log('# a hostile user name is refused before it touches S3, the cache or a log');
  run('iam-authorized-keys', ['--config', config, '../../etc/passwd']);

  step(
    "Revocation: deactivate alice's first key in IAM; its CloudTrail event is applied the way the Lambda does (targeted: only alice and her groups are re-read); ask again (ttlSeconds 0 would skip the cache)",
  );
  const aliceKey = keyIds.get('alice')?.[0] ?? '';
  await iam.send(
    new UpdateSSHPublicKeyCommand({ UserName: 'alice', SSHPublicKeyId: aliceKey, Status: 'Inactive' }),
  );
  const eventFile = join(work, 'update-key-event.json');
  writeFileSync(
    eventFile,
    JSON.stringify(
      cloudTrailEvent('UpdateSSHPublicKey', {
        userName: 'alice',
        sSHPublicKeyId: aliceKey,
        status: 'Inactive',
      }),
    ),
  );
  run('iam-ssh-keys', ['publish', '--bucket', BUCKET, '--event', eventFile]);
  rmSync(cacheDir, { recursive: true, force: true });
  run('iam-authorized-keys', ['--config', config, 'ec2-user']);

  step(
    "An ed25519 key in an IAM user tag (IAM's key store takes RSA only): carol uploads one, its TagUser event is applied",
  );
  const tagKey = makeKey('ed25519');
  const keyFile = join(work, 'carol-yubikey.pub');
  writeFileSync(keyFile, `${tagKey.openssh} carol@yubikey\n`);
  run('iam-ssh-keys', ['keys', 'upload', '--user', 'carol', keyFile]);
  run('iam-ssh-keys', ['keys', 'list', '--user', 'carol']);
  const tagEvent = join(work, 'tag-user-event.json');
  writeFileSync(
    tagEvent,
    JSON.stringify(
      cloudTrailEvent('TagUser', {
        userName: 'carol',
        tags: [{ key: 'ssh-key:carol-yubikey', value: '...' }],
      }),
    ),
  );
  run('iam-ssh-keys', ['publish', '--bucket', BUCKET, '--event', tagEvent]);
  const carol = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'users/carol/authorized_keys' }));
  console.log('\nusers/carol/authorized_keys:');
  process.stdout.write((await carol.Body?.transformToString()) ?? '');
  run('iam-ssh-keys', ['status', '--bucket', BUCKET]);

  step('S3 goes away: the agent answers from its cache (within maxStaleSeconds)');
  await moto.stop();
  run('iam-authorized-keys', ['--config', config, 'ec2-user']);
  console.log('\nDemo complete.');
} finally {
  await moto.stop();
  rmSync(work, { recursive: true, force: true });
}
