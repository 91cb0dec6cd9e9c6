// runGrant's rules that moto cannot show: IAM compares group names without case (moto with
// case), so the grant's tag key takes IAM's spelling of the group. An SDK-level stub for that.
import { GetGroupCommand, type IAMClient, TagUserCommand } from '@aws-sdk/client-iam';
import { describe, expect, it } from 'vitest';
import { runGrant } from '../../../cli/grant.js';

function iamStub(canonical: string) {
  const sent: { name: string; input: unknown }[] = [];
  const iam = {
    send: async (c: { constructor: { name: string }; input: unknown }) => {
      sent.push({ name: c.constructor.name, input: c.input });
      if (c instanceof GetGroupCommand) return { Group: { GroupName: canonical } };
      if (c instanceof TagUserCommand) return {};
      throw new Error(`unexpected ${c.constructor.name}`);
    },
  } as unknown as IAMClient;
  return { iam, sent };
}

describe('runGrant', () => {
  it("writes the tag key with IAM's spelling of the group name", async () => {
    const { iam, sent } = iamStub('Administrators');
    const out: string[] = [];
    const now = () => new Date('2026-12-07T05:35:00Z');
    const code = await runGrant(
      { cmd: 'grant', revoke: false, user: 'alice', group: 'administrators', for: '4h', seconds: 14400 },
      { iam, grantTagPrefix: 'ssh-grant:', now },
      (l) => out.push(l),
    );
    expect(code).toBe(0);
    expect(sent[1]).toEqual({
      name: 'TagUserCommand',
      input: {
        UserName: 'alice',
        Tags: [{ Key: 'ssh-grant:Administrators', Value: '2026-12-07T09:35:00Z' }],
      },
    });
    expect(out[0]).toBe(
      'granted: alice may log in as a member of Administrators until 2026-12-07T09:35:00Z (4 h; tag ssh-grant:Administrators)',
    );
  });

  it('refuses a tag key longer than IAM allows, before tagging', async () => {
    const { iam, sent } = iamStub('G'.repeat(120));
    await expect(
      runGrant(
        { cmd: 'grant', revoke: false, user: 'alice', group: 'G'.repeat(120), for: '1h', seconds: 3600 },
        { iam, grantTagPrefix: 'ssh-grant:', now: () => new Date() },
        () => {},
      ),
    ).rejects.toThrow(/longer than IAM allows \(128 characters\)/);
    expect(sent.map((s) => s.name)).toEqual(['GetGroupCommand']);
  });
});
