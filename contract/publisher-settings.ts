// Names the stack (lib/) and the publisher function (lambda/) must agree on,
// declared once: the function's environment variables and their defaults, the
// metrics it emits (which the stack's alarms watch), and the IAM events the
// stack routes to it. Both sides type their literals against these lists, so a
// name one side renames alone no longer compiles. Not part of contract/index.ts:
// the host agent has no use for them.

/** Powertools' service name of the publisher (the metrics' `service` dimension). */
export const PUBLISHER_SERVICE_NAME = 'iam-ssh-keys-publisher';
/** CloudWatch namespace of the publisher's metrics. */
export const METRICS_NAMESPACE = 'IamSshKeys';

/** The environment variables the function reads (docs/publisher.md "Environment"). */
export const PUBLISHER_ENV_VARS = [
  'BUCKET',
  'KEY_PREFIX',
  'MAX_DELETE_SHARE',
  'ALLOW_MASS_DELETE',
  'ALLOW_INDEX_RESET',
  'UID_BASE',
  'DRY_RUN',
  'TAG_KEY_PREFIX',
  'EVENT_FULL_RUN_MINUTES',
  // Key lifecycle (docs/key-lifecycle.md).
  'MAX_KEY_AGE_DAYS',
  'MAX_GRANT_HOURS',
  'VERIFY_REQUIRED_GROUPS',
  'GRANT_TAG_PREFIX',
] as const;
export type PublisherEnvVar = (typeof PUBLISHER_ENV_VARS)[number];
/** The function's environment as it reads it: only these names. */
export type PublisherEnv = Readonly<Partial<Record<PublisherEnvVar, string>>>;

/** MAX_DELETE_SHARE: largest share of existing principals one run may delete. */
export const DEFAULT_MAX_DELETE_SHARE = 0.5;
/** UID_BASE: the first uid the publisher allocates. */
export const DEFAULT_UID_BASE = 20000;
/** The schedule period (CDK context `scheduleMinutes`); the stack sets EVENT_FULL_RUN_MINUTES to it. */
export const DEFAULT_SCHEDULE_MINUTES = 15;
/** EVENT_FULL_RUN_MINUTES when unset (the CLI's `publish`; the stack always sets it). */
export const DEFAULT_EVENT_FULL_RUN_MINUTES = 60;

/** MAX_GRANT_HOURS: the longest time-boxed grant (its end minus when the publisher first saw it). */
export const DEFAULT_MAX_GRANT_HOURS = 12;
/** GRANT_TAG_PREFIX: user tags `<prefix><IAM group name>` = `<UTC ISO 8601 end>` are time-boxed grants. */
export const DEFAULT_GRANT_TAG_PREFIX = 'ssh-grant:';
/** `status --expiring-within` and the KeysExpiringSoon metric: keys expiring within this many days. */
export const DEFAULT_EXPIRING_WITHIN_DAYS = 14;

/** Every metric the function emits (namespace METRICS_NAMESPACE; docs/operations.md). */
export const PUBLISHER_METRICS = [
  'PublishSucceeded',
  'PublishFailed',
  'PublishIncomplete',
  'ImportProgressed',
  'FullRuns',
  'TargetedRuns',
  'Users',
  'UsersRead',
  'Keys',
  'RejectedKeys',
  'CopiedKeysRefused',
  'CopiedKeyFullRuns',
  'CopiedKeyFullRunsDeferred',
  'ObjectsWritten',
  'ObjectsDeleted',
  'ObjectsTooLargeForHosts',
  'BudgetTooSmall',
  'IamCalls',
  'DurationMs',
  // Key lifecycle: published keys expiring within DEFAULT_EXPIRING_WITHIN_DAYS, and keys refused as expired.
  'KeysExpiringSoon',
  'KeysExpired',
] as const;
export type PublisherMetric = (typeof PUBLISHER_METRICS)[number];

/** IAM API calls that change what the bucket should hold (CloudTrail event names the stack routes to the function). */
export const IAM_CHANGE_EVENTS = [
  'UploadSSHPublicKey',
  'UpdateSSHPublicKey',
  'DeleteSSHPublicKey',
  'CreateUser',
  'DeleteUser',
  'UpdateUser',
  'AddUserToGroup',
  'RemoveUserFromGroup',
  'CreateGroup',
  'DeleteGroup',
  'UpdateGroup',
  // Keys may live in tags (docs/architecture.md "Keys from IAM user tags").
  'TagUser',
  'UntagUser',
] as const;
export type IamChangeEvent = (typeof IAM_CHANGE_EVENTS)[number];
