// Targeted event runs: what one IAM change event costs (IAM calls by action, S3
// writes and reads, time) on moto accounts of different sizes, next to a full
// run. Shows that an event's cost does not grow with the account.
// Usage: npx tsx bench/event.ts [sizes=100,1000] [keysPerUser=2] [groups=50]
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  DeleteGroupCommand,
  DeleteSSHPublicKeyCommand,
  DeleteUserCommand,
  type IAMClient,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UpdateGroupCommand,
  UpdateSSHPublicKeyCommand,
  UpdateUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startAwsProxy } from '../dev/aws-proxy.js';
import { cloudTrailEvent } from '../dev/cloudtrail.js';
import { makeKey } from '../dev/keys.js';
import { startMoto } from '../dev/moto.js';
import { clientsFor } from '../dev/publisher.js';
import { targetsOf } from '../lambda/event-targets.js';
import { mapLimit } from '../lambda/map-limit.js';
import { DEFAULT_PUBLISH_CONFIG, publish } from '../lambda/publish.js';
import { publishForEvents } from '../lambda/publish-targeted.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const sizes = (process.argv[2] ?? '100,1000').split(',').map(Number);
const keysPerUser = Number(process.argv[3] ?? 2);
const groups = Number(process.argv[4] ?? 50);
const config = { ...DEFAULT_PUBLISH_CONFIG, bucket: 'bench', prefix: '' };

async function build(iam: IAMClient, users: number): Promise<void> {
  for (let g = 0; g < groups; g++) await iam.send(new CreateGroupCommand({ GroupName: `group${g}` }));
  await mapLimit(
    Array.from({ length: users }, (_, i) => i),
    16,
    async (i) => {
      const name = `user${i}`;
      await iam.send(new CreateUserCommand({ UserName: name }));
      for (let k = 0; k < keysPerUser; k++)
        await iam.send(
          new UploadSSHPublicKeyCommand({ UserName: name, SSHPublicKeyBody: makeKey().openssh }),
        );
      for (const g of new Set([i % groups, (i * 7 + 3) % groups]))
        await iam.send(new AddUserToGroupCommand({ GroupName: `group${g}`, UserName: name }));
    },
  );
  // The user the single-user events are about: one group, like most people.
  await iam.send(new CreateUserCommand({ UserName: 'ev-solo' }));
  await iam.send(new AddUserToGroupCommand({ GroupName: 'group0', UserName: 'ev-solo' }));
}

for (const users of sizes) {
  const moto = await startMoto();
  const proxy = await startAwsProxy(moto.endpoint);
  try {
    const direct = clientsFor(moto.endpoint);
    const viaProxy = clientsFor(proxy.endpoint);
    await direct.s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const t0 = performance.now();
    await build(direct.iam, users);
    console.log(
      `\n== ${users + 1} users x ${keysPerUser} keys, ${groups} groups (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const count = (service: 'iam' | 's3', actions?: string[]) =>
      proxy.requests.filter((q) => q.service === service && (!actions || actions.includes(q.action))).length;
    const byAction = () =>
      Object.entries(
        proxy.requests
          .filter((q) => q.service === 'iam')
          .reduce<Record<string, number>>((m, q) => {
            m[q.action] = (m[q.action] ?? 0) + 1;
            return m;
          }, {}),
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
    const row = (label: string, mode: string, ms: number) =>
      console.log(
        `${label.padEnd(34)} ${mode.padEnd(8)} IAM ${String(count('iam')).padStart(5)} (${byAction()}); ` +
          `S3 writes ${count('s3', ['PutObject', 'DeleteObject'])}, reads ${count('s3', ['ListObjectsV2', 'GetObject'])}; ${ms.toFixed(0)} ms`,
      );

    proxy.clear();
    let start = performance.now();
    await publish(config, { ...viaProxy, now: () => new Date() });
    row('full run (first)', 'full', performance.now() - start);
    proxy.clear();
    start = performance.now();
    await publish(config, { ...viaProxy, now: () => new Date() });
    row('full run (steady state)', 'full', performance.now() - start);

    let keyId = '';
    const steps: [string, () => Promise<unknown>, Record<string, unknown>][] = [
      [
        'UploadSSHPublicKey',
        async () => {
          const r = await direct.iam.send(
            new UploadSSHPublicKeyCommand({ UserName: 'ev-solo', SSHPublicKeyBody: makeKey().openssh }),
          );
          keyId = r.SSHPublicKey?.SSHPublicKeyId as string;
        },
        { userName: 'ev-solo', sSHPublicKeyBody: '...' },
      ],
      [
        'AddUserToGroup',
        () => direct.iam.send(new AddUserToGroupCommand({ UserName: 'ev-solo', GroupName: 'group1' })),
        { userName: 'ev-solo', groupName: 'group1' },
      ],
      [
        'RemoveUserFromGroup',
        () => direct.iam.send(new RemoveUserFromGroupCommand({ UserName: 'ev-solo', GroupName: 'group1' })),
        { userName: 'ev-solo', groupName: 'group1' },
      ],
      [
        'UpdateSSHPublicKey',
        () =>
          direct.iam.send(
            new UpdateSSHPublicKeyCommand({ UserName: 'ev-solo', SSHPublicKeyId: keyId, Status: 'Inactive' }),
          ),
        { userName: 'ev-solo', status: 'Inactive' },
      ],
      [
        'DeleteSSHPublicKey',
        () => direct.iam.send(new DeleteSSHPublicKeyCommand({ UserName: 'ev-solo', SSHPublicKeyId: keyId })),
        { userName: 'ev-solo' },
      ],
      [
        'TagUser',
        () => direct.iam.send(new TagUserCommand({ UserName: 'ev-solo', Tags: [{ Key: 'a', Value: 'b' }] })),
        { userName: 'ev-solo' },
      ],
      [
        'CreateUser',
        () => direct.iam.send(new CreateUserCommand({ UserName: 'ev-new' })),
        { userName: 'ev-new' },
      ],
      [
        'UpdateUser (rename)',
        () => direct.iam.send(new UpdateUserCommand({ UserName: 'ev-new', NewUserName: 'ev-renamed' })),
        { userName: 'ev-new', newUserName: 'ev-renamed' },
      ],
      [
        'DeleteUser',
        () => direct.iam.send(new DeleteUserCommand({ UserName: 'ev-renamed' })),
        { userName: 'ev-renamed' },
      ],
      [
        'CreateGroup',
        () => direct.iam.send(new CreateGroupCommand({ GroupName: 'ev-group' })),
        { groupName: 'ev-group' },
      ],
      [
        `UpdateGroup (rename group2, ~${Math.round(((users / groups) * 2) | 0)} members)`,
        () => direct.iam.send(new UpdateGroupCommand({ GroupName: 'group2', NewGroupName: 'ev-group2' })),
        { groupName: 'group2', newGroupName: 'ev-group2' },
      ],
      [
        'DeleteGroup',
        () => direct.iam.send(new DeleteGroupCommand({ GroupName: 'ev-group' })),
        { groupName: 'ev-group' },
      ],
    ];
    for (const [label, change, params] of steps) {
      await change();
      const eventName = label.split(' ')[0] as string;
      proxy.clear();
      start = performance.now();
      const outcome = await publishForEvents(
        config,
        { ...viaProxy, now: () => new Date() },
        targetsOf(cloudTrailEvent(eventName, params)),
      );
      row(label, outcome.mode, performance.now() - start);
    }
  } finally {
    await proxy.stop();
    await moto.stop();
  }
}
