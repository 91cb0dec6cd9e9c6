// Pure: an EventBridge event (CloudTrail "AWS API Call via CloudTrail" for IAM)
// -> the IAM users and groups whose published objects it may change. Anything
// not understood asks for a full run: a targeted run is an optimisation, never a
// reason to miss a change.
import { tagKeyId } from '../contract/index.js';
import type { IamChangeEvent } from '../contract/publisher-settings.js';
import { isRecord } from '../contract/records.js';

/** What to re-read from IAM: user and group names (an old and a new name for renames). */
export interface Targets {
  readonly users: readonly string[];
  readonly groups: readonly string[];
  /**
   * What the fresh reads must show if IAM has caught up with the events (IAM is
   * eventually consistent): a read that does not is retried briefly.
   */
  readonly expect?: readonly Expectation[];
  /**
   * What the events revoked, in any order: key ids deleted or deactivated (a tag key as
   * `tag:<tag key>`) and users deleted. A key-loss guard does not count a loss they explain.
   */
  readonly revoked?: Revoked;
}

export interface Revoked {
  readonly keyIds: readonly string[];
  readonly users: readonly string[];
}

function revokedBy(
  eventName: string,
  params: Record<string, unknown>,
  expect: readonly Expectation[],
): Revoked | undefined {
  const keyIds = expect.flatMap((e) => ('keyId' in e && e.status !== 'Active' ? [e.keyId] : []));
  const users = expect.flatMap((e) => ('exists' in e && !e.exists ? [e.user] : []));
  if (eventName === 'UntagUser' && Array.isArray(params.tagKeys))
    for (const k of params.tagKeys) if (typeof k === 'string') keyIds.push(tagKeyId(k));
  return keyIds.length + users.length > 0 ? { keyIds, users } : undefined;
}

/** One fact an IAM call established, checkable on the fresh reads of its user. */
export type Expectation =
  | { readonly user: string; readonly keyId: string; readonly status: 'Active' | 'Inactive' | 'deleted' }
  | { readonly user: string; readonly group: string; readonly member: boolean }
  | { readonly user: string; readonly exists: boolean };

function expectationOf(
  eventName: string,
  params: Record<string, unknown>,
  user: string | undefined,
): Expectation[] {
  if (user === undefined) return [];
  const keyId = typeof params.sSHPublicKeyId === 'string' ? params.sSHPublicKeyId : undefined;
  const group = name(params, 'groupName');
  if (
    eventName === 'UpdateSSHPublicKey' &&
    keyId &&
    (params.status === 'Active' || params.status === 'Inactive')
  )
    return [{ user, keyId, status: params.status }];
  if (eventName === 'DeleteSSHPublicKey' && keyId) return [{ user, keyId, status: 'deleted' }];
  if (eventName === 'AddUserToGroup' && group) return [{ user, group, member: true }];
  if (eventName === 'RemoveUserFromGroup' && group) return [{ user, group, member: false }];
  if (eventName === 'DeleteUser') return [{ user, exists: false }];
  if (eventName === 'CreateUser') return [{ user, exists: true }];
  return [];
}

export type EventPlan =
  | { readonly kind: 'targets'; readonly targets: Targets }
  /** The call failed (errorCode): IAM did not change, nothing to do. */
  | { readonly kind: 'none'; readonly reason: string }
  | { readonly kind: 'full'; readonly reason: string };

export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';

/** Events that name one user (requestParameters.userName). */
const USER_EVENTS: ReadonlySet<string> = new Set<IamChangeEvent>([
  'UploadSSHPublicKey',
  'UpdateSSHPublicKey',
  'DeleteSSHPublicKey',
  'CreateUser',
  'DeleteUser',
  'TagUser',
  'UntagUser',
]);
/** Events that name one user and one group. */
const MEMBERSHIP_EVENTS: ReadonlySet<string> = new Set<IamChangeEvent>([
  'AddUserToGroup',
  'RemoveUserFromGroup',
]);
/** Events that name one group (requestParameters.groupName). */
const GROUP_EVENTS: ReadonlySet<string> = new Set<IamChangeEvent>(['CreateGroup', 'DeleteGroup']);

/** Every event name targetsOf understands (names of the contract's IAM_CHANGE_EVENTS). */
export const TARGETED_EVENT_NAMES: readonly string[] = [
  ...USER_EVENTS,
  ...MEMBERSHIP_EVENTS,
  ...GROUP_EVENTS,
  'UpdateUser' satisfies IamChangeEvent,
  'UpdateGroup' satisfies IamChangeEvent,
];

// IAM's own patterns for user and group names: anything else is not a name we can re-read.
const IAM_NAME = /^[\w+=,.@-]{1,128}$/;

function name(params: Record<string, unknown>, key: string): string | undefined {
  const v = params[key];
  return typeof v === 'string' && IAM_NAME.test(v) ? v : undefined;
}

const full = (reason: string): EventPlan => ({ kind: 'full', reason });

export function targetsOf(event: unknown): EventPlan {
  if (!isRecord(event)) return full('not an event object');
  if (event['detail-type'] !== CLOUDTRAIL_DETAIL_TYPE)
    return full(`not a CloudTrail API call (${String(event['detail-type'] ?? 'no detail-type')})`);
  const detail = event.detail;
  if (!isRecord(detail)) return full('event has no detail');
  if (detail.eventSource !== 'iam.amazonaws.com')
    return full(`not an IAM event (${String(detail.eventSource)})`);
  const eventName = typeof detail.eventName === 'string' ? detail.eventName : '';
  // A failed call changed nothing: CloudTrail records it with an errorCode.
  if (detail.errorCode !== undefined && detail.errorCode !== null)
    return { kind: 'none', reason: `${eventName || 'call'} failed (${String(detail.errorCode)})` };
  const params = isRecord(detail.requestParameters) ? detail.requestParameters : {};
  const user = name(params, 'userName');
  const group = name(params, 'groupName');
  const targets = (users: (string | undefined)[], groups: (string | undefined)[]): EventPlan => {
    if ([...users, ...groups].some((x) => x === undefined))
      return full(`${eventName} without the names it should carry`);
    const expect = expectationOf(eventName, params, user);
    const revoked = revokedBy(eventName, params, expect);
    return {
      kind: 'targets',
      targets: {
        users: [...new Set(users as string[])],
        groups: [...new Set(groups as string[])],
        ...(expect.length ? { expect } : {}),
        ...(revoked ? { revoked } : {}),
      },
    };
  };
  if (USER_EVENTS.has(eventName)) return targets([user], []);
  if (MEMBERSHIP_EVENTS.has(eventName)) return targets([user], [group]);
  if (GROUP_EVENTS.has(eventName)) return targets([], [group]);
  if (eventName === 'UpdateUser') {
    // A rename touches both names; without newUserName only the path changed (still re-read).
    const renamed = params.newUserName !== undefined;
    return targets(renamed ? [user, name(params, 'newUserName')] : [user], []);
  }
  if (eventName === 'UpdateGroup') {
    const renamed = params.newGroupName !== undefined;
    return targets([], renamed ? [group, name(params, 'newGroupName')] : [group]);
  }
  return full(`event ${eventName || '(unnamed)'} is not handled in a targeted way`);
}

/** Up to this many users + groups a batch is applied in a targeted way; beyond, a full run is cheaper. */
export const MAX_TARGETS = 25;

/**
 * Several events (an SQS batch) -> one plan: the union of their targets, or a
 * full run when any event asks for one or the union is larger than maxTargets.
 */
export function unionOf(plans: readonly EventPlan[], maxTargets = MAX_TARGETS): EventPlan {
  const users = new Set<string>();
  const groups = new Set<string>();
  const eventsPerUser = new Map<string, number>();
  const expect: Expectation[] = [];
  const revokedKeys = new Set<string>();
  const revokedUsers = new Set<string>();
  for (const p of plans) {
    if (p.kind === 'full') return p;
    if (p.kind === 'none') continue;
    for (const u of p.targets.users) {
      users.add(u);
      eventsPerUser.set(u, (eventsPerUser.get(u) ?? 0) + 1);
    }
    for (const g of p.targets.groups) groups.add(g);
    expect.push(...(p.targets.expect ?? []));
    for (const k of p.targets.revoked?.keyIds ?? []) revokedKeys.add(k);
    for (const u of p.targets.revoked?.users ?? []) revokedUsers.add(u);
  }
  if (users.size + groups.size === 0) return { kind: 'none', reason: 'no event changed IAM' };
  if (users.size + groups.size > maxTargets)
    return full(`${users.size} users and ${groups.size} groups touched: more than ${maxTargets}`);
  // A batch does not tell which of two events about one user came last (and a later one may
  // undo an earlier one): only a user's single event says what IAM must show now.
  const kept = expect.filter((e) => eventsPerUser.get(e.user) === 1);
  // Revocations need no order: a key lost that an event deleted is explained whatever came after.
  const revoked = { keyIds: [...revokedKeys], users: [...revokedUsers] };
  return {
    kind: 'targets',
    targets: {
      users: [...users],
      groups: [...groups],
      ...(kept.length ? { expect: kept } : {}),
      ...(revokedKeys.size + revokedUsers.size ? { revoked } : {}),
    },
  };
}

/** Up to this many SQS records one invocation applies in a targeted way. */
export const MAX_BATCH_RECORDS = 100;

/**
 * Any invocation -> its plan: an SQS batch of EventBridge events (their union),
 * one EventBridge event, or anything else (schedule, direct call): a full run.
 */
export function planForInvocation(event: unknown): EventPlan {
  const records = isRecord(event) ? event.Records : undefined;
  if (Array.isArray(records)) {
    if (records.length > MAX_BATCH_RECORDS) return full(`${records.length} queued events in one batch`);
    const plans: EventPlan[] = [];
    for (const r of records) {
      if (!isRecord(r) || r.eventSource !== 'aws:sqs' || typeof r.body !== 'string')
        return full('a batch record is not an SQS message');
      let body: unknown;
      try {
        body = JSON.parse(r.body);
      } catch {
        return full('a queued message is not JSON');
      }
      plans.push(targetsOf(body));
    }
    return unionOf(plans);
  }
  if (isRecord(event) && event['detail-type'] === CLOUDTRAIL_DETAIL_TYPE) return targetsOf(event);
  const kind = isRecord(event) && typeof event['detail-type'] === 'string' ? event['detail-type'] : 'direct';
  return full(`${kind} invocation`);
}
