// Revocation end to end: a key deactivated in IAM, or a user removed from a
// group, stops working over a real sshd once the change's CloudTrail event is
// applied (targeted) and the host cache, at its default TTL, has expired.
// Prints the breakdown; bench/revocation.ts repeats it for figures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RevocationRig, startRevocationRig } from '../../dev/revocation-rig.js';
import { DEFAULT_TTL_SECONDS } from '../../host-agent/config.js';

const TTL_MS = DEFAULT_TTL_SECONDS * 1000;

describe('revocation through a targeted event run, over a real sshd', () => {
  let rig: RevocationRig;
  beforeAll(async () => {
    rig = await startRevocationRig({ timeoutMs: TTL_MS + 60_000 });
  }, 120_000);
  afterAll(async () => {
    await rig?.stop();
  });

  it(
    'UpdateSSHPublicKey Inactive: the user principal login is refused once the cache expires',
    async () => {
      const r = await rig.revoke(rig.userAccount, rig.alice, () => rig.setAliceKey('Inactive'));
      console.log(
        `revocation (key Inactive): event applied ${r.applyMs.toFixed(0)} ms after the IAM change; refused ${(r.refusedAfterApplyMs / 1000).toFixed(1)} s later (cache filled ${(r.sinceCacheFillMs / 1000).toFixed(1)} s before, TTL ${DEFAULT_TTL_SECONDS} s; ${r.polls} logins polled)`,
      );
      expect(r.applyOutput).toMatch(/^targeted run: re-read IAM users \[ev-alice\] groups \[\]\n/);
      expect(r.applyOutput).toContain('change users/ev-alice/authorized_keys');
      // Served from the cache until it expired: the old key kept working for a while, then stopped.
      expect(r.polls).toBeGreaterThan(1);
      // Other people's access is untouched.
      expect(await rig.login(rig.groupAccount, rig.bob)).toBe(0);
    },
    TTL_MS + 120_000,
  );

  it(
    'RemoveUserFromGroup: the group principal login is refused once the cache expires',
    async () => {
      const r = await rig.revoke(rig.groupAccount, rig.bob, () => rig.setBobMember(false));
      console.log(
        `revocation (RemoveUserFromGroup): event applied ${r.applyMs.toFixed(0)} ms after the IAM change; refused ${(r.refusedAfterApplyMs / 1000).toFixed(1)} s later (cache filled ${(r.sinceCacheFillMs / 1000).toFixed(1)} s before, TTL ${DEFAULT_TTL_SECONDS} s; ${r.polls} logins polled)`,
      );
      expect(r.applyOutput).toMatch(/^targeted run: re-read IAM users \[ev-bob\] groups \[ev-admins\]\n/);
      expect(r.applyOutput).toContain('change groups/ev-admins/authorized_keys');
      expect(r.polls).toBeGreaterThan(1);
    },
    TTL_MS + 120_000,
  );

  it(
    'granting again through events works too (AddUserToGroup)',
    async () => {
      const g = await rig.setBobMember(true);
      expect(g.output).toMatch(/^targeted run: re-read IAM users \[ev-bob\] groups \[ev-admins\]\n/);
      await rig.waitLoginOk(rig.groupAccount, rig.bob, TTL_MS + 60_000);
    },
    TTL_MS + 120_000,
  );
});
