// `iam-ssh-keys grant` (a time-boxed grant as a user tag, or its removal) and `grants` (what the
// last publish made of them, from index.json). Parsing and the pure parts: args.ts, grant-time.ts,
// grants-report.ts.

import { GetGroupCommand, type IAMClient, TagUserCommand, UntagUserCommand } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import { errorMessage } from '../contract/errors.js';
import { IAM_TAG_KEY, parseIndex } from '../contract/index.js';
import { readIndexText } from '../lambda/bucket.js';
import { isNoSuchEntity } from '../lambda/iam-source.js';
import type { GrantCommand } from './args.js';
import { grantEnd, grantLength } from './grant-time.js';
import { grantsReport } from './grants-report.js';

export class GrantError extends Error {
  override name = 'GrantError';
}

type Out = (line: string) => void;

/** How a grant reaches the hosts: the stack's eventDriven decides, which the CLI cannot see. */
export const PUBLISHED_BY =
  'published by the targeted run its IAM event starts when the stack is event-driven (the default; ' +
  'about a minute), else by the next scheduled run (every scheduleMinutes)';

/** IAM's spelling of the group (names compare without case there, and the publisher matches IAM's). */
async function groupName(iam: IAMClient, group: string, revoke: boolean): Promise<string> {
  try {
    const res = await iam.send(new GetGroupCommand({ GroupName: group, MaxItems: 1 }));
    return res.Group?.GroupName ?? group;
  } catch (e) {
    // A grant of a deleted group can still be revoked: by the name given.
    if (isNoSuchEntity(e) && revoke) return group;
    if (isNoSuchEntity(e)) throw new GrantError(`no IAM group ${JSON.stringify(group)}`, { cause: e });
    throw e;
  }
}

function tagKeyOf(prefix: string, group: string): string {
  const key = `${prefix}${group}`;
  if (!IAM_TAG_KEY.test(key))
    throw new GrantError(`the tag key ${JSON.stringify(key)} is longer than IAM allows (128 characters)`);
  return key;
}

export async function runGrant(
  c: GrantCommand,
  deps: { readonly iam: IAMClient; readonly grantTagPrefix: string; readonly now: () => Date },
  out: Out,
): Promise<number> {
  const group = await groupName(deps.iam, c.group, c.revoke);
  const key = tagKeyOf(deps.grantTagPrefix, group);
  const user = (e: unknown) =>
    isNoSuchEntity(e) ? new GrantError(`no IAM user ${JSON.stringify(c.user)}`, { cause: e }) : e;
  if (c.revoke) {
    await deps.iam.send(new UntagUserCommand({ UserName: c.user, TagKeys: [key] })).catch((e) => {
      throw user(e);
    });
    out(`revoked: removed the tag ${key} from ${c.user} (if it was there)`);
    out(`${PUBLISHED_BY}; until then hosts accept the grant at most until the end its lines carry`);
    return 0;
  }
  const until = grantEnd(deps.now(), c.seconds);
  await deps.iam
    .send(new TagUserCommand({ UserName: c.user, Tags: [{ Key: key, Value: until }] }))
    .catch((e) => {
      throw user(e);
    });
  out(
    `granted: ${c.user} may log in as a member of ${group} until ${until} (${grantLength(c.seconds)}; tag ${key})`,
  );
  out(PUBLISHED_BY);
  return 0;
}

export async function runGrants(
  c: { readonly bucket: string; readonly json: boolean },
  s3: S3Client,
  prefix: string,
  out: Out,
  now: () => Date = () => new Date(),
): Promise<number> {
  const location = `s3://${c.bucket}/${prefix}index.json`;
  const text = await readIndexText(s3, c.bucket, prefix);
  if (text === undefined) throw new GrantError(`${location} does not exist: nothing was published yet`);
  let report: ReturnType<typeof grantsReport>;
  try {
    report = grantsReport(parseIndex(text), now());
  } catch (e) {
    throw new GrantError(`${location}: ${errorMessage(e)}`, { cause: e });
  }
  if (c.json) out(JSON.stringify(report.data, null, 2));
  else for (const l of report.lines) out(l);
  return 0;
}
