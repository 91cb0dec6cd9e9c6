// End to end, the key lifecycle (docs/key-lifecycle.md) through a real sshd: the
// publisher (run in-process against moto, with its clock passed in) writes
// expiry-time and verify-required; sshd runs the agent, which drops what has
// expired; and sshd enforces expiry-time by itself when a line reaches it.
//
// Time: the publisher writes expiry-time with SECONDS (YYYYMMDDHHMMSS, which
// every supported OpenSSH reads: docs/key-lifecycle.md), so no test waits a
// minute. A test makes an expiry a few seconds ahead by setting the
// publisher's clock back (a key first published a day ago with a one-day
// maximum age; a grant made two minutes before its end), logs in, then waits
// (polling the clock, at most ~6 s) until the expiry second has passed:
// sshd refuses a key once its expiry second is before the current one.
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  TagUserCommand,
} from '@aws-sdk/client-iam';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExpiryTime, type KeyType, own, renderLine } from '../../contract/index.js';
import { buildAgent, clients, createAgentUser, createBucket, RUN_TAG } from '../../dev/host.js';
import { makeSkKey } from '../../dev/keys.js';
import { type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import { completed } from '../../dev/publisher.js';
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
import { DEFAULT_PUBLISH_CONFIG, type PublishConfig, publish } from '../../lambda/publish.js';
import { runCommand } from '../helpers/agent.js';

const sleep = promisify(setTimeout);
const BUCKET = 'e2e-lifecycle';
const P = `lc-${RUN_TAG}`;
const ALICE = `${P}-alice`;
const BOB = `${P}-bob`;
const ADMINS = `${P}-Administrators`;
const BREAK_GLASS = `${P}-break-glass`;
/** Local accounts: alice's own (users/ALICE), the admins' (groups/ADMINS), bob's and break-glass's. */
const AL = `${P}-al`;
const ADM = `${P}-adm`;
const BO = `${P}-bo`;
const BRK = `${P}-brk`;
/** A local account whose keys come only from a static AuthorizedKeysFile (never from the agent). */
const ST = `${P}-st`;
const AGENT_USER = `${P}-agent`;

/** A client key as renderLine takes it. */
const asKey = (c: ClientKey) => ({ type: c.type as KeyType, blob: c.blob });

/** Waits (polling the clock) until sshd's rule refuses an expiry at `ms`: the current second is past it. */
async function untilPast(ms: number): Promise<void> {
  while (Math.floor(Date.now() / 1000) * 1000 <= ms) await sleep(100);
}

/** Whole seconds, `seconds` ahead of now (at least that many full seconds away). */
const secondsAhead = (seconds: number) => new Date(Math.ceil(Date.now() / 1000) * 1000 + seconds * 1000);

describe('key lifecycle, through sshd', () => {
  let moto: Moto;
  let sshd: Sshd;
  let dir: string;
  let staticDir: string;
  let syslog: SyslogSink;
  let alice: ClientKey;
  let bob: ClientKey;
  const sk = makeSkKey('ed25519');

  const config = (extra: Partial<PublishConfig> = {}): PublishConfig => ({
    ...DEFAULT_PUBLISH_CONFIG,
    bucket: BUCKET,
    prefix: '',
    ...extra,
  });
  const publishAt = (now: Date, extra: Partial<PublishConfig> = {}) =>
    publish(config(extra), { ...clients(moto), now: () => now }).then(completed);
  const object = async (key: string) => {
    const r = await clients(moto).s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return (await r.Body?.transformToString()) ?? '';
  };

  beforeAll(async () => {
    requireSshd();
    moto = await startMoto();
    dir = makeTrustedDir('lifecycle');
    const agent = await buildAgent(dir);
    syslog = await startSyslogSink(dir);
    const agentIds = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, agentIds.uid, agentIds.gid);
    staticDir = join(dir, 'static');
    mkdirSync(staticDir, { mode: 0o755 });
    const keys = join(dir, 'client-keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'alice');
    bob = makeClientKey(keys, 'bob');

    await createBucket(moto, BUCKET);
    const { iam } = clients(moto);
    for (const g of [ADMINS, BREAK_GLASS]) await iam.send(new CreateGroupCommand({ GroupName: g }));
    for (const u of [ALICE, BOB]) await iam.send(new CreateUserCommand({ UserName: u }));
    // alice is in no group: she reaches the admins' account only through a grant.
    await iam.send(new AddUserToGroupCommand({ GroupName: BREAK_GLASS, UserName: BOB }));
    await iam.send(
      new TagUserCommand({ UserName: ALICE, Tags: [{ Key: 'ssh-key:laptop', Value: alice.openssh }] }),
    );
    await iam.send(
      new TagUserCommand({
        UserName: BOB,
        Tags: [
          { Key: 'ssh-key:laptop', Value: bob.openssh },
          { Key: 'ssh-key:yubikey', Value: sk.openssh },
        ],
      }),
    );
    for (const u of [AL, ADM, BO, BRK, ST]) createLocalUser(u);
    const configPath = join(dir, 'config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        endpoint: moto.endpoint,
        users: {
          [AL]: [`users/${ALICE}`],
          [ADM]: [`groups/${ADMINS}`],
          [BO]: [`users/${BOB}`],
          [BRK]: [`groups/${BREAK_GLASS}`],
        },
        cache: { dir: cacheDir, ttlSeconds: 0, maxStaleSeconds: 0 },
        syslogSocket: syslog.socket,
      }),
      { mode: 0o644 },
    );
    sshd = await startSshd({
      dir,
      authorizedKeysCommand: `${agent} --config ${configPath} -- %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
      authorizedKeysFile: join(staticDir, '%u'),
      // sshd says why it refused a line ("entry expired at") at debug level only.
      options: ['LogLevel=DEBUG1'],
    });
  });

  afterAll(async () => {
    await sshd?.stop();
    await moto?.stop();
    syslog?.stop();
    for (const u of [AL, ADM, BO, BRK, ST, AGENT_USER]) removeLocalUser(u);
    if (dir) removeDir(dir);
  });

  it('sshd itself refuses a line whose expiry-time has passed (the agent is not in the path)', async () => {
    // ST's keys come only from a static file: the agent maps nothing to ST, so its filter plays no part.
    const file = join(staticDir, ST);
    writeFileSync(
      file,
      renderLine(ALICE, asKey(alice), { expiryTime: formatExpiryTime(new Date(Date.now() - 60_000)) }),
      {
        mode: 0o644,
      },
    );
    const refused = await sshLogin(sshd.port, ST, alice);
    expect(refused.code).toBe(255);
    expect(sshd.log()).toContain(`${file}:1: entry expired at`);
    // The same line an hour ahead: accepted, so the expiry alone refused it.
    writeFileSync(
      file,
      renderLine(ALICE, asKey(alice), { expiryTime: formatExpiryTime(new Date(Date.now() + 3_600_000)) }),
      {
        mode: 0o644,
      },
    );
    expect((await sshLogin(sshd.port, ST, alice)).code).toBe(0);
  });

  it("sshd parses the publisher's full option set (owner, expiry-time, verify-required) in its one order", async () => {
    // verify-required binds only FIDO signatures: on an ed25519 key sshd parses it and logs in, which shows
    // the option string as we write it is one sshd accepts. (The agent never serves it on such a key.)
    const text = `environment="SSH_KEY_OWNER=${ALICE}",expiry-time="${formatExpiryTime(new Date(Date.now() + 3_600_000))}",verify-required ${alice.openssh} ${ALICE}\n`;
    writeFileSync(join(staticDir, ST), text, { mode: 0o644 });
    const r = await sshLogin(sshd.port, ST, alice, 'echo "owner=$SSH_KEY_OWNER"');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`owner=${ALICE}`);
  });

  it('a key expiring in seconds logs in, then is refused once its expiry has passed; the next run does not publish it', async () => {
    // Max age 1 day; alice's tag key is first published by a run whose clock says a day before `end`.
    const end = secondsAhead(4);
    const dayBefore = new Date(end.getTime() - 86_400_000);
    await publishAt(dayBefore, { maxKeyAgeDays: 1 });
    expect(await object(`users/${ALICE}/authorized_keys`)).toBe(
      `environment="SSH_KEY_OWNER=${ALICE}",expiry-time="${formatExpiryTime(end)}" ${alice.openssh} ${ALICE}\n`,
    );
    expect((await sshLogin(sshd.port, AL, alice)).code).toBe(0);
    await untilPast(end.getTime());
    const refused = await sshLogin(sshd.port, AL, alice);
    expect(refused.code).toBe(255);
    // The agent dropped it (and said why); sshd would have refused it too (the first test).
    expect(sshd.log()).toContain(
      `dropped a key of ${ALICE} (${alice.fingerprint}): expired at ${end.toISOString()}`,
    );

    // The schedule's next run: the key is past its age, not published, listed as expired.
    const r = await publishAt(new Date(), { maxKeyAgeDays: 1 });
    expect(await object(`users/${ALICE}/authorized_keys`)).toBe('');
    expect(own(r.index.users, ALICE)?.rejectedKeys).toEqual([
      expect.objectContaining({ id: 'tag:ssh-key:laptop', reason: 'expired', expires: end.toISOString() }),
    ]);
    // bob's two tag keys were first published by the same run: they expired with it.
    expect(r.summary).toMatchObject({ keysExpired: 3, keys: 0 });
  });

  it('a 2-minute grant lets alice log in to the admins account; after it ends and a scheduled run, she cannot', async () => {
    const { iam } = clients(moto);
    // Made two minutes before its end (the publisher's clock then); the test lives its last seconds.
    const end = secondsAhead(5);
    await iam.send(
      new TagUserCommand({
        UserName: ALICE,
        Tags: [{ Key: `ssh-grant:${ADMINS}`, Value: end.toISOString() }],
      }),
    );
    const r = await publishAt(new Date(end.getTime() - 120_000));
    expect(r.index.grants).toEqual([
      expect.objectContaining({ iamUser: ALICE, group: ADMINS, status: 'active', until: end.toISOString() }),
    ]);
    expect(await object(`groups/${ADMINS}/authorized_keys`)).toBe(
      `environment="SSH_KEY_OWNER=${ALICE}",expiry-time="${formatExpiryTime(end)}" ${alice.openssh} ${ALICE}\n`,
    );
    const ok = await sshLogin(sshd.port, ADM, alice, 'echo "owner=$SSH_KEY_OWNER"');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe(`owner=${ALICE}`);

    await untilPast(end.getTime());
    expect((await sshLogin(sshd.port, ADM, alice)).code).toBe(255);
    // The scheduled run drops the ended grant's lines; index.json says it ended.
    const after = await publishAt(new Date());
    expect(await object(`groups/${ADMINS}/authorized_keys`)).toBe('');
    expect(after.index.grants).toEqual([expect.objectContaining({ status: 'refused', reason: 'ended' })]);
    expect((await sshLogin(sshd.port, ADM, alice)).code).toBe(255);
    // Her own account is not touched by the grant's end.
    expect((await sshLogin(sshd.port, AL, alice)).code).toBe(0);
  });

  it("a verify-required group's file holds only sk-* lines with verify-required; a member's ed25519 key is not in it", async () => {
    const r = await publishAt(new Date(), { verifyRequiredGroups: [BREAK_GLASS] });
    const text = await object(`groups/${BREAK_GLASS}/authorized_keys`);
    expect(text).toBe(`environment="SSH_KEY_OWNER=${BOB}",verify-required ${sk.openssh} ${BOB}\n`);
    expect(own(r.index.groups, BREAK_GLASS)).toMatchObject({
      verifyRequired: true,
      omittedKeys: [{ user: BOB, id: 'tag:ssh-key:laptop' }],
    });
    // bob's ed25519 key: refused at the break-glass account, accepted at his own (only that file leaves it out).
    expect((await sshLogin(sshd.port, BRK, bob)).code).toBe(255);
    expect((await sshLogin(sshd.port, BO, bob)).code).toBe(0);
    // OpenSSH's own parser (ssh-keygen reads authorized_keys lines, options included) reads the sk line.
    // A login with it needs a FIDO authenticator to sign, which no test machine has: that step is sshd's.
    const file = join(dir, 'break-glass_authorized_keys');
    writeFileSync(file, text);
    const parsed = await runCommand('ssh-keygen', ['-l', '-f', file]);
    expect(parsed.code).toBe(0);
    expect(parsed.stdout).toMatch(
      new RegExp(`^256 ${sk.fingerprint.replace(/[+/]/g, '\\$&')} ${BOB} \\(ED25519-SK\\)\n$`),
    );
  });
});
