// Revocation end to end, shared by test/e2e/revocation.test.ts and
// bench/revocation.ts: IAM (moto) -> the IAM change's CloudTrail event applied
// with `iam-ssh-keys publish --event` (the Lambda's targeted path) -> S3 (moto)
// -> the agent, at its default cache TTL, as a real sshd's AuthorizedKeysCommand
// -> a real ssh login, polled until sshd refuses it.
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AddUserToGroupCommand,
  RemoveUserFromGroupCommand,
  UpdateSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { cloudTrailEvent } from './cloudtrail.js';
import {
  awsEnv,
  buildAgent,
  buildCli,
  clients,
  createAgentUser,
  createBucket,
  iamUserWithKey,
  publish,
  RUN_TAG,
} from './host.js';
import { type Moto, startMoto, TEST_REGION } from './moto.js';
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
} from './sshd.js';
import { type SyslogSink, startSyslogSink } from './syslog-sink.js';

const run = promisify(execFile);
const BUCKET = 'ev-revocation';

/** One revocation, timed. */
export interface Revocation {
  /** The CLI's output for the applied event. */
  readonly applyOutput: string;
  /** IAM change -> event applied (targeted publish done). */
  readonly applyMs: number;
  /** Event applied -> first refused login. */
  readonly refusedAfterApplyMs: number;
  /** Last login that filled the host cache -> first refused login (bounded by the TTL plus one poll). */
  readonly sinceCacheFillMs: number;
  /** Logins polled (each one real ssh) until one was refused. */
  readonly polls: number;
}

export interface RevocationRig {
  /** Local account mapped to `users/ev-alice` (key revocation). */
  readonly userAccount: string;
  /** Local account mapped to `groups/ev-admins` (membership revocation). */
  readonly groupAccount: string;
  readonly alice: ClientKey;
  readonly bob: ClientKey;
  login(account: string, key: ClientKey): Promise<number>;
  /** UpdateSSHPublicKey ev-alice Inactive (or Active again), then its event applied. */
  setAliceKey(status: 'Active' | 'Inactive'): Promise<{ output: string; ms: number }>;
  /** RemoveUserFromGroup / AddUserToGroup ev-bob ev-admins, then its event applied. */
  setBobMember(member: boolean): Promise<{ output: string; ms: number }>;
  /** Empties the host cache, logs in (filling it), applies the change, polls logins until refused. */
  revoke(
    account: string,
    key: ClientKey,
    change: () => Promise<{ output: string; ms: number }>,
  ): Promise<Revocation>;
  /** Polls until the login works again (after a restore). */
  waitLoginOk(account: string, key: ClientKey, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRevocationRig(
  opts: { pollMs?: number; timeoutMs?: number } = {},
): Promise<RevocationRig> {
  const pollMs = opts.pollMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  requireSshd();
  const userAccount = `ev-u-${RUN_TAG}`;
  const groupAccount = `ev-g-${RUN_TAG}`;
  const agentUser = `ev-agent-${RUN_TAG}`;
  let moto: Moto | undefined;
  let sshd: Sshd | undefined;
  let syslog: SyslogSink | undefined;
  const dir = makeTrustedDir('ev-revocation');
  const stop = async () => {
    await sshd?.stop();
    await moto?.stop();
    syslog?.stop();
    removeLocalUser(userAccount);
    removeLocalUser(groupAccount);
    removeLocalUser(agentUser);
    removeDir(dir);
  };
  try {
    moto = await startMoto();
    const m = moto;
    const cli = await buildCli();
    const agent = await buildAgent(dir);
    syslog = await startSyslogSink(dir);
    const ids = await createAgentUser(agentUser, join(dir, 'agent-home'));
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, ids.uid, ids.gid);
    const configPath = join(dir, 'config.json');
    // The cache at its defaults: no ttlSeconds given.
    writeFileSync(
      configPath,
      JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        endpoint: m.endpoint,
        users: { [userAccount]: ['users/ev-alice'], [groupAccount]: ['groups/ev-admins'] },
        cache: { dir: cacheDir },
        syslogSocket: syslog.socket,
      }),
      { mode: 0o644 },
    );
    createLocalUser(userAccount);
    createLocalUser(groupAccount);
    const keys = join(dir, 'client-keys');
    mkdirSync(keys, { mode: 0o700 });
    const alice = makeClientKey(keys, 'ev-alice');
    const bob = makeClientKey(keys, 'ev-bob');
    await createBucket(m, BUCKET);
    const aliceKeyId = await iamUserWithKey(m, 'ev-alice', alice.openssh, []);
    await iamUserWithKey(m, 'ev-bob', bob.openssh, ['ev-admins']);
    await publish(cli, m, BUCKET);
    sshd = await startSshd({
      dir,
      authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
      authorizedKeysCommandUser: agentUser,
    });
    const port = sshd.port;
    const { iam } = clients(m);

    let n = 0;
    const applyEvent = async (event: unknown): Promise<string> => {
      const file = join(dir, `event-${n++}.json`);
      writeFileSync(file, `${JSON.stringify(event, null, 2)}\n`);
      const r = await run(process.execPath, [cli, 'publish', '--bucket', BUCKET, '--event', file], {
        env: awsEnv(m),
      });
      return r.stdout;
    };
    const timed = async (change: () => Promise<unknown>, event: unknown) => {
      const t0 = performance.now();
      await change();
      const output = await applyEvent(event);
      return { output, ms: performance.now() - t0 };
    };
    const login = async (account: string, key: ClientKey) => (await sshLogin(port, account, key)).code;

    return {
      userAccount,
      groupAccount,
      alice,
      bob,
      login,
      setAliceKey: (status) =>
        timed(
          () =>
            iam.send(
              new UpdateSSHPublicKeyCommand({
                UserName: 'ev-alice',
                SSHPublicKeyId: aliceKeyId,
                Status: status,
              }),
            ),
          cloudTrailEvent('UpdateSSHPublicKey', { userName: 'ev-alice', sSHPublicKeyId: aliceKeyId, status }),
        ),
      setBobMember: (member) =>
        timed(
          () =>
            iam.send(
              member
                ? new AddUserToGroupCommand({ UserName: 'ev-bob', GroupName: 'ev-admins' })
                : new RemoveUserFromGroupCommand({ UserName: 'ev-bob', GroupName: 'ev-admins' }),
            ),
          cloudTrailEvent(member ? 'AddUserToGroup' : 'RemoveUserFromGroup', {
            userName: 'ev-bob',
            groupName: 'ev-admins',
          }),
        ),
      async revoke(account, key, change) {
        // An empty cache, so this login fills it: the worst case, a full TTL of cached access.
        for (const f of readdirSync(cacheDir)) rmSync(join(cacheDir, f), { force: true, recursive: true });
        const ok = await login(account, key);
        if (ok !== 0) throw new Error(`login as ${account} failed (${ok}) before the revocation`);
        const filled = performance.now();
        const applied = await change();
        const appliedAt = performance.now();
        for (let polls = 1; ; polls++) {
          const code = await login(account, key);
          if (code === 255) {
            const now = performance.now();
            return {
              applyOutput: applied.output,
              applyMs: applied.ms,
              refusedAfterApplyMs: now - appliedAt,
              sinceCacheFillMs: now - filled,
              polls,
            };
          }
          if (code !== 0) throw new Error(`ssh exited ${code}: neither a login nor a refusal`);
          if (now() - appliedAt > timeoutMs)
            throw new Error(`login as ${account} still works ${timeoutMs} ms after the revocation`);
          await new Promise((r) => setTimeout(r, pollMs));
        }
      },
      async waitLoginOk(account, key, ms) {
        const end = performance.now() + ms;
        while ((await login(account, key)) !== 0) {
          if (performance.now() > end) throw new Error(`login as ${account} still refused after ${ms} ms`);
          await new Promise((r) => setTimeout(r, pollMs));
        }
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

const now = () => performance.now();
