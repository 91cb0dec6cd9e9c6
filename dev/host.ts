// A host as the end-to-end tests, the login and revocation benches set it up: the
// built agent and operator CLI (dist/), IAM users and keys in moto, a bucket, the
// account sshd runs the agent as, and publishing with the real CLI.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  IAMClient,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { rewriteShebang } from '../host-agent/admin/install/plan.js';
import { AGENT_KIND, STANDALONE_NAME } from './agent-kind.js';
import { type Moto, TEST_CREDENTIALS, TEST_REGION } from './moto.js';

const run = promisify(execFile);

/** Suffix for the local accounts and groups a run creates, so two runs on one machine never meet. */
export const RUN_TAG = process.pid.toString(36).slice(-4);
const ROOT = new URL('..', import.meta.url).pathname;

/** dist/ as `npm run build` makes it (vitest's globalSetup builds it; a bench run may not have). */
function distFile(name: string): string {
  const path = join(ROOT, 'dist', name);
  if (!existsSync(path))
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'ignore' });
  return path;
}

/**
 * The built host agent, copied into dir (which must be a trusted, root-owned
 * directory): the standalone executable as it is (IAK_E2E_AGENT=standalone),
 * or the script with the shebang naming this node, as `install` does: sshd runs
 * the command with a minimal PATH.
 */
export async function buildAgent(dir: string): Promise<string> {
  const out = join(dir, 'iam-authorized-keys');
  if (AGENT_KIND === 'standalone') copyFileSync(distFile(STANDALONE_NAME), out);
  else writeFileSync(out, rewriteShebang(readFileSync(distFile('iam-authorized-keys')), process.execPath));
  chmodSync(out, 0o755);
  return out;
}

/** The built operator CLI (dist/ holds a package.json that keeps it CommonJS inside the repo). */
export async function buildCli(): Promise<string> {
  return distFile('iam-ssh-keys');
}

export function awsEnv(moto: Moto): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: TEST_REGION,
    AWS_DEFAULT_REGION: TEST_REGION,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Publishes IAM (in moto) to the bucket with the real operator CLI (`args`: more of its options). */
export async function publish(cli: string, moto: Moto, bucket: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(process.execPath, [cli, 'publish', '--bucket', bucket, ...args], {
    env: awsEnv(moto),
  });
  return stdout;
}

export function clients(moto: Moto) {
  const cfg = {
    endpoint: moto.endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
  };
  return { iam: new IAMClient(cfg), s3: new S3Client({ ...cfg, forcePathStyle: true }) };
}

export async function createBucket(moto: Moto, bucket: string): Promise<void> {
  await clients(moto).s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Creates an IAM user with one SSH key; returns the key id. */
export async function iamUserWithKey(
  moto: Moto,
  user: string,
  openssh: string,
  groups: string[],
): Promise<string> {
  const { iam } = clients(moto);
  await iam.send(new CreateUserCommand({ UserName: user }));
  for (const g of groups) {
    await iam.send(new CreateGroupCommand({ GroupName: g })).catch((e: Error) => {
      if (e.name !== 'EntityAlreadyExists' && e.name !== 'EntityAlreadyExistsException') throw e;
    });
    await iam.send(new AddUserToGroupCommand({ GroupName: g, UserName: user }));
  }
  const r = await iam.send(new UploadSSHPublicKeyCommand({ UserName: user, SSHPublicKeyBody: openssh }));
  const id = r.SSHPublicKey?.SSHPublicKeyId;
  if (!id) throw new Error(`moto returned no key id for ${user}`);
  return id;
}

/** A system account for AuthorizedKeysCommandUser, with an AWS profile in its home (sshd passes HOME). */
export async function createAgentUser(name: string, home: string): Promise<{ uid: number; gid: number }> {
  await run('userdel', ['-r', name]).catch(() => {});
  await run('useradd', [
    '--system',
    '--user-group',
    '--home-dir',
    home,
    '--create-home',
    '--shell',
    '/usr/sbin/nologin',
    name,
  ]);
  const creds = join(home, '.aws');
  await run('mkdir', ['-p', creds]);
  writeFileSync(
    join(creds, 'credentials'),
    `[default]\naws_access_key_id = ${TEST_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${TEST_CREDENTIALS.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  await run('chown', ['-R', `${name}:${name}`, home]);
  const { stdout } = await run('id', ['-u', name]);
  const { stdout: g } = await run('id', ['-g', name]);
  return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
}

/** What sshd gives an AuthorizedKeysCommand: a minimal PATH (with this node), HOME, USER and LOGNAME root. */
export function sshdCommandEnv(home: string): Record<string, string> {
  return { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: home, USER: 'root', LOGNAME: 'root' };
}

/** sshdCommandEnv plus the explicit AWS_* wrapper of docs/host-agent.md: test keys, the S3 endpoint, no IMDS. */
export function agentEnv(home: string, s3Endpoint: string): Record<string, string> {
  return {
    ...sshdCommandEnv(home),
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
