// End to end, keys from IAM user tags: an ed25519 key that lives only in a tag
// (none in IAM's SSH key store) logs in through a real sshd running the agent;
// a FIDO (sk-*) key from a tag is served by the agent and read by OpenSSH's own
// parser. A real FIDO login needs an authenticator to sign, which no test
// machine has: that last step is sshd's, and we add no option to it.
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  ListSSHPublicKeysCommand,
  TagUserCommand,
  UntagUserCommand,
} from '@aws-sdk/client-iam';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awsEnv,
  buildAgent,
  buildCli,
  clients,
  createAgentUser,
  createBucket,
  RUN_TAG,
} from '../../dev/host.js';
import { makeSkKey } from '../../dev/keys.js';
import { type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import {
  type ClientKey,
  createLocalUser,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  type Sshd,
  sshLogin,
  startSshd,
} from '../../dev/sshd.js';
import { type SyslogSink, startSyslogSink } from '../../dev/syslog-sink.js';
import { waitFor } from '../../dev/wait.js';
import { runAgent, runCommand } from '../helpers/agent.js';

const run = promisify(execFile);
const BUCKET = 'e2e-tag-keys';
const P = `tg-${RUN_TAG}`;
/** IAM user and, in iamUsers mode, the local account of the same name. */
const ALICE = `${P}-alice`;
const BOB = `${P}-bob`;
/** A shared local account mapped to both IAM users. */
const OPS = `${P}-ops`;
const AGENT_USER = `${P}-agent`;
const DEVS = `${P}-devs`;
// Per run, and apart from sync-users' range (60000-63999): two runs' moto servers hand out the same uids.
const UID_BASE = 64000 + (process.pid % 40) * 100;

describe('keys from IAM user tags, through sshd', () => {
  let moto: Moto;
  let sshd: Sshd;
  let dir: string;
  let cli: string;
  let agent: string;
  let configPath: string;
  let syslog: SyslogSink;
  let alice: ClientKey;
  const sk = makeSkKey('ed25519');

  const publish = () =>
    run(process.execPath, [cli, 'publish', '--bucket', BUCKET, '--uid-base', String(UID_BASE)], {
      env: awsEnv(moto),
    });
  const auditLines = (local: string) =>
    syslog.lines().filter((l) => l.includes('key-matched') && l.includes(`user=${local} `));

  beforeAll(async () => {
    requireSshd();
    moto = await startMoto();
    dir = makeTrustedDir('tags');
    cli = await buildCli();
    agent = await buildAgent(dir);
    syslog = await startSyslogSink(dir);
    const agentIds = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, agentIds.uid, agentIds.gid);
    const keys = join(dir, 'client-keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'alice');

    await createBucket(moto, BUCKET);
    const { iam } = clients(moto);
    await iam.send(new CreateGroupCommand({ GroupName: DEVS }));
    for (const u of [ALICE, BOB]) {
      await iam.send(new CreateUserCommand({ UserName: u }));
      await iam.send(new AddUserToGroupCommand({ GroupName: DEVS, UserName: u }));
    }
    // Only in a tag: nothing in IAM's SSH key store.
    await iam.send(
      new TagUserCommand({ UserName: ALICE, Tags: [{ Key: 'ssh-key:laptop', Value: alice.openssh }] }),
    );
    await iam.send(
      new TagUserCommand({ UserName: BOB, Tags: [{ Key: 'ssh-key:yubikey', Value: sk.openssh }] }),
    );
    await publish();

    // ALICE's local account as sync-users makes it: her published uid (iamUsers mode requires it).
    const r = await clients(moto).s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'index.json' }));
    const index = JSON.parse((await r.Body?.transformToString()) ?? '{}');
    const uid = index.users[ALICE].uid as number;
    removeLocalUser(ALICE);
    await run('useradd', ['-m', '-s', '/bin/sh', '-p', '*', '-u', String(uid), ALICE]);
    createLocalUser(OPS);

    configPath = join(dir, 'config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        endpoint: moto.endpoint,
        users: { [OPS]: [`users/${ALICE}`, `users/${BOB}`] },
        iamUsers: { allowGroups: [DEVS] },
        cache: { dir: cacheDir, ttlSeconds: 0, maxStaleSeconds: 0 },
        syslogSocket: syslog.socket,
      }),
      { mode: 0o644 },
    );
    sshd = await startSshd({
      dir,
      authorizedKeysCommand: `${agent} --config ${configPath} -- %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
    });
  });

  afterAll(async () => {
    await sshd?.stop();
    await moto?.stop();
    syslog?.stop();
    for (const u of [ALICE, OPS, AGENT_USER]) removeLocalUser(u);
    if (dir) removeDir(dir);
  });

  it('logs in with an ed25519 key that lives only in a tag, audited by its fingerprint (iamUsers mode)', async () => {
    const store = await clients(moto).iam.send(new ListSSHPublicKeysCommand({ UserName: ALICE }));
    expect(store.SSHPublicKeys ?? []).toEqual([]);
    const r = await sshLogin(sshd.port, ALICE, alice, 'echo "owner=$SSH_KEY_OWNER"');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`owner=${ALICE}`);
    expect(sshd.log()).toMatch(
      new RegExp(`Accepted publickey for ${ALICE} .* ED25519 ${alice.fingerprint.replace(/[+/]/g, '\\$&')}`),
    );
    await waitFor(() => auditLines(ALICE).length > 0, { what: 'an audit line' });
    expect(auditLines(ALICE).at(-1)).toMatch(
      new RegExp(
        `fingerprint=${alice.fingerprint.replace(/[+/]/g, '\\$&')} owner=${ALICE} principal=users/${ALICE} `,
      ),
    );
  });

  it('logs in to a shared account mapped to the IAM user (audit: owner and fingerprint)', async () => {
    const r = await sshLogin(sshd.port, OPS, alice, 'echo "owner=$SSH_KEY_OWNER"');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`owner=${ALICE}`);
    await waitFor(() => auditLines(OPS).length > 0, { what: 'an audit line' });
    expect(auditLines(OPS).at(-1)).toMatch(new RegExp(`owner=${ALICE} principal=users/${ALICE}`));
  });

  it('serves a FIDO sk-ssh-ed25519 key from a tag, and OpenSSH reads the line it prints as that key', async () => {
    const env = awsEnv(moto);
    const all = await runAgent(agent, ['--config', configPath, '--', OPS], env);
    expect(all.code).toBe(0);
    const skLine = `environment="SSH_KEY_OWNER=${BOB}" ${sk.type} ${sk.blob} ${BOB}\n`;
    expect(all.stdout).toBe(
      `environment="SSH_KEY_OWNER=${ALICE}" ${alice.type} ${alice.blob} ${ALICE}\n${skLine}`,
    );
    // As sshd asks with %f: only that key.
    const one = await runAgent(agent, ['--config', configPath, '--', OPS, sk.fingerprint], env);
    expect(one).toMatchObject({ code: 0, stdout: skLine });
    // ssh-keygen parses authorized_keys lines (options included) with sshd's own code.
    const file = join(dir, 'sk_authorized_keys');
    writeFileSync(file, one.stdout);
    const parsed = await runCommand('ssh-keygen', ['-l', '-f', file]);
    expect(parsed.code).toBe(0);
    expect(parsed.stdout).toMatch(
      new RegExp(`^256 ${sk.fingerprint.replace(/[+/]/g, '\\$&')} ${BOB} \\(ED25519-SK\\)\n$`),
    );
  });

  it('refuses the key once its tag is removed and the publisher ran', async () => {
    await clients(moto).iam.send(new UntagUserCommand({ UserName: ALICE, TagKeys: ['ssh-key:laptop'] }));
    await publish();
    const r = await sshLogin(sshd.port, ALICE, alice);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });
});
