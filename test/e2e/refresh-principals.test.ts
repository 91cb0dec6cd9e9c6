// End to end: the built agent's refresh-principals reads an SSM parameter from
// moto over its own SigV4 client and rewrites the config's users atomically.
// The parameter is written with boto3 (an independent client).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnv, buildAgent } from '../../dev/host.js';
import { type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import { makeTrustedDir, removeDir } from '../../dev/sshd.js';
import { runAgent } from '../helpers/agent.js';
import { putParameter as putParam } from './fixtures.js';

describe('refresh-principals from SSM (moto)', () => {
  let moto: Moto;
  let dir: string;
  let agent: string;
  let configPath: string;
  const original = `${JSON.stringify({ bucket: 'my-keys', region: TEST_REGION, users: { old: ['users/x'] } }, null, 2)}\n`;

  const putParameter = (name: string, value: string) => putParam(moto, name, value);
  const refresh = (...args: string[]) =>
    runAgent(agent, ['refresh-principals', '--config', configPath, ...args], awsEnv(moto));

  beforeAll(async () => {
    moto = await startMoto();
    dir = makeTrustedDir('ssm');
    agent = await buildAgent(dir);
    configPath = join(dir, 'config.json');
  });
  afterAll(async () => {
    await moto?.stop();
    if (dir) removeDir(dir);
  });

  it('writes the JSON map from the parameter into users, keeping every other setting', async () => {
    writeFileSync(configPath, original, { mode: 0o644 });
    putParameter('/IAM/web-role/principals', '{"ec2-user":["groups/Admins","users/alice"]}');
    const r = await refresh('--parameter', '/IAM/web-role/principals');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /users set from SSM parameter \/IAM\/web-role\/principals: ec2-user <- groups\/Admins,users\/alice/,
    );
    expect(JSON.parse(readFileSync(configPath, 'utf8'))).toEqual({
      bucket: 'my-keys',
      region: TEST_REGION,
      users: { 'ec2-user': ['groups/Admins', 'users/alice'] },
    });
    expect(statSync(configPath).mode & 0o777).toBe(0o644);
    expect((await refresh('--parameter', '/IAM/web-role/principals')).stdout).toMatch(
      /already has the principals/,
    );
  });

  it('a plain list applies to --local-user; --dry-run writes nothing', async () => {
    writeFileSync(configPath, original, { mode: 0o644 });
    putParameter('/IAM/app/principals', 'groups/Ops,users/bob');
    const dry = await refresh('--parameter', '/IAM/app/principals', '--local-user', 'ubuntu', '--dry-run');
    expect(dry.stdout).toMatch(/would set users .*ubuntu <- groups\/Ops,users\/bob/);
    expect(readFileSync(configPath, 'utf8')).toBe(original);
    const r = await refresh('--parameter', '/IAM/app/principals', '--local-user', 'ubuntu');
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(configPath, 'utf8')).users).toEqual({
      ubuntu: ['groups/Ops', 'users/bob'],
    });
  });

  it('leaves the config untouched when the parameter is missing or invalid', async () => {
    writeFileSync(configPath, original, { mode: 0o644 });
    const missing = await refresh('--parameter', '/IAM/none/principals');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/SSM GetParameter \/IAM\/none\/principals answered 400 ParameterNotFound/);
    putParameter('/IAM/bad/principals', '{"ec2-user":["roles/admin"]}');
    const bad = await refresh('--parameter', '/IAM/bad/principals');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid principal "roles\/admin"/);
    expect(readFileSync(configPath, 'utf8')).toBe(original);
  });

  it('refuses to map root unless --allow-system-accounts is given', async () => {
    writeFileSync(configPath, original, { mode: 0o644 });
    putParameter('/IAM/root/principals', '{"root":["groups/Everyone"]}');
    const refused = await refresh('--parameter', '/IAM/root/principals');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'iam-authorized-keys refresh-principals: SSM parameter /IAM/root/principals maps system account(s) root (uid 0); refused, config unchanged (pass --allow-system-accounts if intended)\n',
    );
    expect(readFileSync(configPath, 'utf8')).toBe(original);
    const allowed = await refresh('--parameter', '/IAM/root/principals', '--allow-system-accounts');
    expect(allowed.code).toBe(0);
    expect(JSON.parse(readFileSync(configPath, 'utf8')).users).toEqual({ root: ['groups/Everyone'] });
  });
});
