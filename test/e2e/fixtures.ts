// Set-up only the end-to-end tests use: SSM parameters, local accounts. Running the
// agent by hand is test/helpers/agent.ts. The built agent and CLI, IAM users and
// keys in moto and the syslog socket are in dev/host.ts and dev/syslog-sink.ts.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { awsEnv } from '../../dev/host.js';
import type { Moto } from '../../dev/moto.js';

const run = promisify(execFile);

/** Writes an SSM parameter in moto with boto3 (an independent client). */
export function putParameter(moto: Moto, name: string, value: string): void {
  execFileSync(
    'python3',
    [
      '-c',
      'import boto3,sys; boto3.client("ssm").put_parameter(Name=sys.argv[1], Value=sys.argv[2], Type="String", Overwrite=True)',
      name,
      value,
    ],
    { env: awsEnv(moto) },
  );
}

/** A local account's passwd fields (name, x, uid, gid, gecos, home, shell), or undefined when there is none. */
export function passwd(name: string): string[] | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(':') : undefined;
}
export const uidOf = (name: string) => Number(passwd(name)?.[2]);

/**
 * What aws-ec2-ssh's import_users.sh does for a new IAM user (its defaults: USERADD_ARGS, LOCAL_GROUPS=""):
 * an account with whatever uid useradd picks, in its marker group.
 */
export async function importUsersSh(name: string, markerGroup: string): Promise<void> {
  await run('useradd', ['--user-group', '--create-home', '--shell', '/bin/bash', name]);
  await run('chown', ['-R', `${name}:${name}`, `/home/${name}`]);
  await run('usermod', ['-a', '-G', markerGroup, name]);
}
