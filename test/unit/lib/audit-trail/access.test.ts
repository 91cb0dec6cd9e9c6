// The audit bucket's policy, evaluated: the synthesized bucket policy and the reader
// policies (publishing account and reading account) against requests an instance,
// a misbehaving instance and an operator make. IAM semantics, simplified to what
// these policies use: explicit Deny wins; same account needs an Allow on either
// side, another account on both; `*` matches any run of characters, `/` included.
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { auditObjectKey } from '../../../../contract/audit.js';
import { buildApp, MAIN_STACK, READER_STACK } from '../../../../lib/build-app.js';
import { type Json, type Statement, type TestApp, testApp } from '../cdk-helpers.js';

const AUDIT = 'audit-trail-bucket';
const ORG = 'o-abcdef1234';
const READING_ACCOUNT = '111111111111';
const ME = 'AROAEXAMPLEINSTANCE:i-0aaaaaaaaaaaaaaaa';
const OTHER = 'AROAEXAMPLEINSTANCE:i-0bbbbbbbbbbbbbbbb';
const DAY = new Date('2026-12-07T10:00:00Z');

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});

const t = testApp(
  {
    readerAccountIds: READING_ACCOUNT,
    readerOrgId: ORG,
    readerBucket: 'company-ssh-keys',
    readerAuditBucket: AUDIT,
  },
  { bundle: false },
);
apps.push(t);
buildApp(t.app);
const main = Template.fromStack(t.app.node.findChild(MAIN_STACK) as Stack).toJSON() as {
  Resources: Record<string, { Type: string; Properties: Json }>;
};
const reader = Template.fromStack(t.app.node.findChild(READER_STACK) as Stack).toJSON() as typeof main;
const auditBucketId = Object.keys(main.Resources).find(
  (id) => id.startsWith('AuditTrailBucket') && main.Resources[id]?.Type === 'AWS::S3::Bucket',
) as string;

/** CloudFormation -> text, with the audit bucket named AUDIT. */
function resolve(v: unknown): unknown {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(resolve);
  const o = v as Record<string, unknown>;
  if (o['Fn::Join']) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(sep);
  }
  if (o.Ref === 'AWS::Partition') return 'aws';
  if (o.Ref === auditBucketId) return AUDIT;
  const getAtt = o['Fn::GetAtt'] as string[] | undefined;
  if (getAtt?.[0] === auditBucketId && getAtt[1] === 'Arn') return `arn:aws:s3:::${AUDIT}`;
  if (o.AWS !== undefined) return { AWS: resolve(o.AWS) };
  return `<unresolved ${JSON.stringify(v)}>`;
}

const list = (v: unknown): string[] =>
  v === undefined ? [] : (([] as unknown[]).concat(resolve(v)) as string[]);

function policyOf(resources: typeof main.Resources, type: string, pred: (p: Json) => boolean): Statement[] {
  const found = Object.values(resources).filter((r) => r.Type === type && pred(r.Properties));
  expect(found).toHaveLength(1);
  const doc = found[0]?.Properties.PolicyDocument as { Statement: Statement[] } | undefined;
  return doc?.Statement ?? [];
}

const bucketPolicy = policyOf(
  main.Resources,
  'AWS::S3::BucketPolicy',
  (p) => (p.Bucket as { Ref?: string }).Ref === auditBucketId,
);
/** This account's reader policy: the one granting writes to the audit bucket. */
const sameAccountReader = policyOf(main.Resources, 'AWS::IAM::ManagedPolicy', (p) =>
  JSON.stringify(p).includes(`"${auditBucketId}"`),
);
const readingAccountReader = policyOf(reader.Resources, 'AWS::IAM::ManagedPolicy', () => true);

interface Request {
  readonly action: string;
  /** Object key; undefined for a bucket-level action (ListBucket). */
  readonly key?: string;
  readonly userid: string;
  readonly account: 'publishing' | 'reading';
  readonly instance: boolean;
  readonly ifNoneMatch?: boolean;
}

/** IAM wildcards: `*` any run (across `/`), `?` one character; policy variables substituted first. */
function matches(pattern: string, value: string, r: Request): boolean {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the IAM policy variable
  const p = pattern.replaceAll('${aws:userid}', r.userid);
  const re = p
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(value);
}

function conditionHolds(c: Json | undefined, r: Request): boolean {
  for (const [op, keys] of Object.entries(c ?? {})) {
    for (const [key, want] of Object.entries(keys as Record<string, unknown>)) {
      const w = String(want);
      if (op === 'Bool' && key === 'aws:SecureTransport') {
        if (w !== 'true') return false; // every request here uses TLS
      } else if (op === 'NumericLessThan' && key === 's3:TlsVersion') {
        return false; // TLS 1.3
      } else if (op === 'Null' && key === 'ec2:SourceInstanceARN') {
        if ((w === 'false') !== r.instance) return false;
      } else if (op === 'Null' && key === 's3:if-none-match') {
        const absent = !(r.action === 's3:PutObject' && r.ifNoneMatch === true);
        if ((w === 'true') !== absent) return false;
      } else if (op === 'StringEquals' && key === 'aws:PrincipalOrgID') {
        if (w !== ORG) return false;
      } else {
        throw new Error(`condition ${op} ${key} is not modelled: extend the evaluator`);
      }
    }
  }
  return true;
}

function applies(s: Statement, r: Request, resourcePolicy: boolean): boolean {
  const raw = s as Statement & { NotAction?: unknown; NotResource?: unknown };
  const actionOk = (a: string) => matches(a, r.action, r);
  if (raw.Action !== undefined && !list(raw.Action).some(actionOk)) return false;
  if (raw.NotAction !== undefined && list(raw.NotAction).some(actionOk)) return false;
  const arn = r.key === undefined ? `arn:aws:s3:::${AUDIT}` : `arn:aws:s3:::${AUDIT}/${r.key}`;
  if (raw.Resource !== undefined && !list(raw.Resource).some((p) => matches(p, arn, r))) return false;
  if (raw.NotResource !== undefined && list(raw.NotResource).some((p) => matches(p, arn, r))) return false;
  if (resourcePolicy) {
    const principals = list((resolve(s.Principal) as { AWS: unknown }).AWS);
    const me = r.account === 'reading' ? `arn:aws:iam::${READING_ACCOUNT}:root` : 'publishing-account';
    if (!principals.some((p) => p === '*' || p === me)) return false;
  }
  return conditionHolds(s.Condition, r);
}

/** The account's own identity policies for the caller: the reader policy, plus what else its role has. */
function decide(r: Request, extraIdentity: Statement[] = []): 'allow' | 'deny' {
  const identity = [
    ...(r.account === 'reading' ? readingAccountReader : sameAccountReader),
    ...extraIdentity,
  ];
  const all = [
    ...bucketPolicy.map((s) => ({ s, resource: true })),
    ...identity.map((s) => ({ s, resource: false })),
  ];
  if (all.some(({ s, resource }) => s.Effect === 'Deny' && applies(s, r, resource))) return 'deny';
  const byBucket = bucketPolicy.some((s) => s.Effect === 'Allow' && applies(s, r, true));
  const byIdentity = identity.some((s) => s.Effect === 'Allow' && applies(s, r, false));
  const allowed = r.account === 'publishing' ? byBucket || byIdentity : byBucket && byIdentity;
  return allowed ? 'allow' : 'deny';
}

const own = auditObjectKey(DAY, ME, '0000000001-0000000005');
const others = auditObjectKey(DAY, OTHER, '0000000001-0000000005');
const EVERYTHING: Statement = { Effect: 'Allow', Action: 's3:*', Resource: '*' };

describe.each(['publishing', 'reading'] as const)('an instance in the %s account', (account) => {
  const req = (action: string, key: string | undefined, more: Partial<Request> = {}): Request => ({
    action,
    ...(key === undefined ? {} : { key }),
    userid: ME,
    account,
    instance: true,
    ifNoneMatch: true,
    ...more,
  });
  it.each<[string, Request, 'allow' | 'deny']>([
    ['puts a new object under its own segment', req('s3:PutObject', own), 'allow'],
    [
      'puts without If-None-Match (could overwrite)',
      req('s3:PutObject', own, { ifNoneMatch: false }),
      'deny',
    ],
    ["puts under another instance's segment", req('s3:PutObject', others), 'deny'],
    [
      "puts below another instance's segment, ending in its own id",
      req('s3:PutObject', `logins/dt=2026-12-07/${OTHER}/${ME}/x.jsonl`),
      'deny',
    ],
    [
      'puts a key deeper than the layout under its own segment',
      req('s3:PutObject', `logins/dt=2026-12-07/${ME}/a/b.jsonl`),
      'deny',
    ],
    ['puts outside logins/', req('s3:PutObject', `other/dt=2026-12-07/${ME}/x.jsonl`), 'deny'],
    ['reads its own object', req('s3:GetObject', own), 'deny'],
    ["reads another's object", req('s3:GetObject', others), 'deny'],
    ['deletes its own object', req('s3:DeleteObject', own), 'deny'],
    ['deletes an old version', req('s3:DeleteObjectVersion', own), 'deny'],
    ['lists the bucket', req('s3:ListBucket', undefined), 'deny'],
    ['tags its object', req('s3:PutObjectTagging', own), 'deny'],
  ])('%s: %s', (_what, r, expected) => {
    expect(decide(r)).toBe(expected);
  });

  it('a role that also holds s3:* on everything still only puts under its own segment', () => {
    expect(decide(req('s3:PutObject', own), [EVERYTHING])).toBe('allow');
    for (const r of [
      req('s3:PutObject', others),
      req('s3:GetObject', own),
      req('s3:DeleteObject', own),
      req('s3:ListBucket', undefined),
      req('s3:PutObject', own, { ifNoneMatch: false }),
    ]) {
      expect(decide(r, [EVERYTHING]), `${r.action} ${r.key}`).toBe('deny');
    }
  });
});

describe('an operator in the publishing account (s3:* by its own policy, not an instance)', () => {
  const op = (action: string, key?: string, ifNoneMatch = false): Request => ({
    action,
    ...(key === undefined ? {} : { key }),
    userid: 'AIDAOPERATOR',
    account: 'publishing',
    instance: false,
    ifNoneMatch,
  });
  it.each<[string, Request, 'allow' | 'deny']>([
    ['reads records', op('s3:GetObject', own), 'allow'],
    ['lists the bucket', op('s3:ListBucket'), 'allow'],
    ['deletes a record', op('s3:DeleteObject', own), 'deny'],
    ['overwrites a record', op('s3:PutObject', own), 'deny'],
    [
      'writes a key deeper than the layout',
      op('s3:PutObject', `logins/dt=2026-12-07/${ME}/a/b.jsonl`, true),
      'deny',
    ],
  ])('%s: %s', (_what, r, expected) => {
    expect(decide(r, [EVERYTHING])).toBe(expected);
  });
});

describe('the evaluator', () => {
  it('matches IAM wildcards across "/"', () => {
    const r: Request = { action: 's3:PutObject', userid: ME, account: 'reading', instance: true };
    expect(matches('a/*/d', 'a/b/c/d', r)).toBe(true);
    expect(matches('logins/*/*/*/*', 'logins/dt=1/u/n.jsonl', r)).toBe(false);
    expect(matches('logins/*/*/*/*', 'logins/dt=1/u/v/n.jsonl', r)).toBe(true);
  });
  it('without the bucket policy, the reading account alone would allow nothing', () => {
    const r: Request = {
      action: 's3:PutObject',
      key: own,
      userid: ME,
      account: 'reading',
      instance: true,
      ifNoneMatch: true,
    };
    expect(readingAccountReader.some((s) => s.Effect === 'Allow' && applies(s, r, false))).toBe(true);
    expect(bucketPolicy.some((s) => s.Effect === 'Allow' && applies(s, r, true))).toBe(true);
  });
});
