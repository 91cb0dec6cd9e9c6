// Publisher benchmark: N users x K keys and G groups in a real moto_server, then a
// first run and a steady-state run through a recording proxy. Prints figures.
// Usage: npx tsx bench/publish.ts [users=1000] [keysPerUser=2] [groups=50]
import {
  AddUserToGroupCommand,
  CreateGroupCommand,
  CreateUserCommand,
  UploadSSHPublicKeyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startAwsProxy } from '../dev/aws-proxy.js';
import { makeKey } from '../dev/keys.js';
import { startMoto } from '../dev/moto.js';
import { clientsFor, completed } from '../dev/publisher.js';
import { mapLimit } from '../lambda/map-limit.js';
import { DEFAULT_PUBLISH_CONFIG, publish } from '../lambda/publish.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const [users = 1000, keysPerUser = 2, groups = 50] = process.argv.slice(2).map(Number);

const moto = await startMoto();
const proxy = await startAwsProxy(moto.endpoint);
try {
  const direct = clientsFor(moto.endpoint);
  const t0 = performance.now();
  await direct.s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
  for (let g = 0; g < groups; g++) await direct.iam.send(new CreateGroupCommand({ GroupName: `group${g}` }));
  await mapLimit(
    Array.from({ length: users }, (_, i) => i),
    16,
    async (i) => {
      const name = i % 10 === 0 ? `user${i}+ops@example.com` : `user${i}`;
      await direct.iam.send(new CreateUserCommand({ UserName: name }));
      for (let k = 0; k < keysPerUser; k++) {
        const body = makeKey(k % 2 === 0 ? 'ed25519' : 'ecdsa').openssh;
        await direct.iam.send(new UploadSSHPublicKeyCommand({ UserName: name, SSHPublicKeyBody: body }));
      }
      for (const g of [i % groups, (i * 7 + 3) % groups]) {
        await direct.iam.send(new AddUserToGroupCommand({ GroupName: `group${g}`, UserName: name }));
      }
    },
  );
  console.log(
    `fixture: ${users} users x ${keysPerUser} keys, ${groups} groups, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  const viaProxy = clientsFor(proxy.endpoint);
  const run = async (label: string) => {
    proxy.clear();
    const start = performance.now();
    const r = completed(
      await publish(
        { ...DEFAULT_PUBLISH_CONFIG, bucket: 'bench', prefix: '' },
        { ...viaProxy, now: () => new Date() },
      ),
    );
    const ms = performance.now() - start;
    const by = (service: 'iam' | 's3') =>
      Object.entries(
        proxy.requests
          .filter((q) => q.service === service)
          .reduce<Record<string, number>>((m, q) => {
            m[q.action] = (m[q.action] ?? 0) + 1;
            return m;
          }, {}),
      )
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
    console.log(
      `${label}: ${(ms / 1000).toFixed(2)} s; users ${r.summary.users}, groups ${r.summary.groups}, keys ${r.summary.keys}; ` +
        `added ${r.summary.added}, changed ${r.summary.changed}, unchanged ${r.summary.unchanged}, deleted ${r.summary.deleted}`,
    );
    console.log(`  IAM requests: ${by('iam')}`);
    console.log(`  S3 requests:  ${by('s3')}`);
  };
  await run('first run   ');
  await run('steady state');
} finally {
  await proxy.stop();
  await moto.stop();
}
