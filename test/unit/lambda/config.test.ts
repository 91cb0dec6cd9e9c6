import { describe, expect, it } from 'vitest';
import { PublisherConfigError, publishConfigFromEnv } from '../../../lambda/config.js';

// The key lifecycle settings (docs/key-lifecycle.md); the others are tested with the CLI's arguments.
describe('publishConfigFromEnv: key lifecycle', () => {
  it('defaults: no maximum key age, 12 h grants, no verify-required group, prefix ssh-grant:', () => {
    const c = publishConfigFromEnv({ BUCKET: 'b' });
    expect(c).toMatchObject({ maxGrantHours: 12, verifyRequiredGroups: [], grantTagPrefix: 'ssh-grant:' });
    expect(c.maxKeyAgeDays).toBeUndefined();
  });

  it.each([
    [{ MAX_KEY_AGE_DAYS: '90' }, { maxKeyAgeDays: 90 }],
    [{ MAX_KEY_AGE_DAYS: '' }, {}],
    [{ MAX_GRANT_HOURS: '4' }, { maxGrantHours: 4 }],
    [
      { VERIFY_REQUIRED_GROUPS: 'Administrators, Break-Glass,,Administrators' },
      { verifyRequiredGroups: ['Administrators', 'Break-Glass'] },
    ],
    [{ GRANT_TAG_PREFIX: 'corp/grant:' }, { grantTagPrefix: 'corp/grant:' }],
  ])('%j', (env, want) => {
    expect(publishConfigFromEnv({ BUCKET: 'b', ...env })).toMatchObject(want);
  });

  it.each([
    [{ MAX_KEY_AGE_DAYS: '0' }, /MAX_KEY_AGE_DAYS/],
    [{ MAX_KEY_AGE_DAYS: '1.5' }, /MAX_KEY_AGE_DAYS/],
    [{ MAX_KEY_AGE_DAYS: '3651' }, /MAX_KEY_AGE_DAYS/],
    [{ MAX_GRANT_HOURS: '0' }, /MAX_GRANT_HOURS/],
    [{ MAX_GRANT_HOURS: '721' }, /MAX_GRANT_HOURS/],
    [{ VERIFY_REQUIRED_GROUPS: 'Admins,no spaces inside' }, /VERIFY_REQUIRED_GROUPS: "no spaces inside"/],
    [{ GRANT_TAG_PREFIX: 'ssh-grant*' }, /GRANT_TAG_PREFIX: invalid tag key prefix/],
    // Members may set `<key tag prefix>*` on themselves: a grant prefix under it would let them grant themselves.
    [{ TAG_KEY_PREFIX: 'ssh:', GRANT_TAG_PREFIX: 'ssh:grant:' }, /overlaps the key tag prefix/],
    [{ TAG_KEY_PREFIX: 'ssh:key:', GRANT_TAG_PREFIX: 'SSH:' }, /overlaps the key tag prefix/],
    [{ GRANT_TAG_PREFIX: 'SSH-KEY:' }, /overlaps the key tag prefix/],
  ])('refuses %j', (env, reason) => {
    expect(() => publishConfigFromEnv({ BUCKET: 'b', ...env })).toThrow(PublisherConfigError);
    expect(() => publishConfigFromEnv({ BUCKET: 'b', ...env })).toThrow(reason);
  });
});
