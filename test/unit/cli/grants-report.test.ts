import { describe, expect, it } from 'vitest';
import { grantsReport } from '../../../cli/grants-report.js';
import type { IndexGrant, PublishedIndex } from '../../../contract/index.js';

const NOW = new Date('2026-12-07T06:00:00Z');
const grant = (g: Partial<IndexGrant>): IndexGrant => ({
  iamUser: 'alice',
  iamUserId: 'AIDAALICE',
  group: 'Administrators',
  until: '2026-12-07T10:00:00Z',
  status: 'active',
  tagKey: 'ssh-grant:Administrators',
  value: '2026-12-07T10:00:00Z',
  since: '2026-12-07T05:59:00Z',
  ...g,
});
const index = (grants?: IndexGrant[]) =>
  ({ generatedAt: '2026-12-07T05:59:30Z', ...(grants ? { grants } : {}) }) as unknown as PublishedIndex;

describe('grantsReport', () => {
  it('active grants (soonest end first), ended ones, then refused ones with the reason', () => {
    const r = grantsReport(
      index([
        grant({
          iamUser: 'bob',
          until: null,
          status: 'refused',
          reason: 'the value is not a UTC ISO 8601 time',
        }),
        grant({ iamUser: 'carol', until: '2026-12-07T05:30:00Z' }),
        grant({ iamUser: 'alice', until: '2026-12-07T10:00:00Z' }),
        grant({ iamUser: 'dave', group: 'Ops', until: '2026-12-07T07:30:00Z' }),
        grant({
          iamUser: 'erin',
          until: '2026-12-08T06:00:00Z',
          status: 'refused',
          reason: 'longer than the maximum grant of 12 h',
        }),
      ]),
      NOW,
    );
    expect(r.lines).toEqual([
      'grants as of the last publish, 2026-12-07T05:59:30Z:',
      'active   dave  Ops  until 2026-12-07T07:30:00Z (1 h 30 min left)',
      'active   alice  Administrators  until 2026-12-07T10:00:00Z (4 h left)',
      'ended    carol  Administrators  at 2026-12-07T05:30:00Z (the next run drops it)',
      'refused  bob  Administrators  until (no valid end): the value is not a UTC ISO 8601 time',
      'refused  erin  Administrators  until 2026-12-08T06:00:00Z: longer than the maximum grant of 12 h',
    ]);
    expect((r.data.grants as unknown[])[2]).toEqual({
      iamUser: 'carol',
      iamUserId: 'AIDAALICE',
      group: 'Administrators',
      until: '2026-12-07T05:30:00Z',
      status: 'active',
      ended: true,
    });
    expect((r.data.grants as unknown[])[3]).toMatchObject({ status: 'refused', reason: expect.any(String) });
  });

  it.each([[undefined], [[]]])('no grants (%j): says so', (grants) => {
    const r = grantsReport(index(grants), NOW);
    expect(r.lines).toEqual(['grants as of the last publish, 2026-12-07T05:59:30Z: none']);
    expect(r.data).toEqual({ generatedAt: '2026-12-07T05:59:30Z', grants: [] });
  });
});
