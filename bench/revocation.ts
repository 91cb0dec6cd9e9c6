// Revocation end to end, timed: a key deactivated in IAM (UpdateSSHPublicKey
// Inactive) and a user removed from a group (RemoveUserFromGroup), each applied
// as its CloudTrail event with `iam-ssh-keys publish --event` (the targeted
// path), then real ssh logins through a real sshd polled until refused, with
// the host cache at its default TTL. Prints the breakdown per round.
// Run as root: npx tsx bench/revocation.ts [rounds=2]

import { type Revocation, startRevocationRig } from '../dev/revocation-rig.js';
import { DEFAULT_TTL_SECONDS } from '../host-agent/config.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const rounds = Number(process.argv[2] ?? 2);
const TTL_MS = DEFAULT_TTL_SECONDS * 1000;

const rig = await startRevocationRig({ pollMs: 250, timeoutMs: TTL_MS + 60_000 });
const rows: { kind: string; r: Revocation }[] = [];
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
try {
  for (let i = 0; i < rounds; i++) {
    const key = await rig.revoke(rig.userAccount, rig.alice, () => rig.setAliceKey('Inactive'));
    rows.push({ kind: 'UpdateSSHPublicKey Inactive', r: key });
    const group = await rig.revoke(rig.groupAccount, rig.bob, () => rig.setBobMember(false));
    rows.push({ kind: 'RemoveUserFromGroup', r: group });
    for (const row of rows.slice(-2))
      console.log(
        `round ${i + 1} ${row.kind.padEnd(28)} IAM change -> event applied ${row.r.applyMs.toFixed(0).padStart(5)} ms; ` +
          `applied -> login refused ${s(row.r.refusedAfterApplyMs)}; cache filled -> refused ${s(row.r.sinceCacheFillMs)}; ` +
          `IAM change -> refused ${s(row.r.applyMs + row.r.refusedAfterApplyMs)}`,
      );
    if (i + 1 < rounds) {
      await rig.setAliceKey('Active');
      await rig.setBobMember(true);
      await rig.waitLoginOk(rig.userAccount, rig.alice, TTL_MS + 60_000);
      await rig.waitLoginOk(rig.groupAccount, rig.bob, TTL_MS + 60_000);
    }
  }
  const worst = Math.max(...rows.map((x) => x.r.applyMs + x.r.refusedAfterApplyMs));
  const apply = Math.max(...rows.map((x) => x.r.applyMs));
  console.log(
    `\nhost cache TTL ${DEFAULT_TTL_SECONDS} s (default); slowest event application ${apply.toFixed(0)} ms; ` +
      `slowest IAM change -> refused login ${s(worst)} (the cache was filled just before each change: the worst case).`,
  );
  console.log(
    'Not measured here (no AWS): CloudTrail -> EventBridge delivery of the IAM event, and the SQS batching window (10 s by default).',
  );
} finally {
  await rig.stop();
}
