// The settings and dependencies of one publisher run, and their defaults: shared by
// the run (publish.ts), the Lambda's environment parser (config.ts) and the CLI,
// none of which needs another's code for them.
import type { IAMClient } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_GRANT_TAG_PREFIX,
  DEFAULT_MAX_DELETE_SHARE,
  DEFAULT_MAX_GRANT_HOURS,
  DEFAULT_UID_BASE,
} from '../contract/publisher-settings.js';
import type { RunBudget } from './retry.js';

export interface PublishConfig {
  readonly bucket: string;
  /** Normalised prefix ('' or 'p/'). */
  readonly prefix: string;
  readonly dryRun: boolean;
  /** @default 0.5 */
  readonly maxDeleteShare: number;
  readonly allowMassDelete: boolean;
  /** Publish although index.json is missing or unreadable while principal objects exist (uids may be reallocated). */
  readonly allowIndexReset: boolean;
  /** @default 20000 */
  readonly uidBase: number;
  /** Parallel IAM and S3 calls. @default 8 */
  readonly concurrency: number;
  /** List page size (tests). */
  readonly pageSize?: number;
  /** User tags whose key starts with this hold public keys. @default 'ssh-key:' */
  readonly tagKeyPrefix?: string;
  /**
   * The run must end by then (ms, deps.now's clock): it stops starting IAM calls in time and, if
   * its read is not complete, saves its progress and returns PublishIncomplete. @default none
   */
  readonly deadline?: number;
  /** Saved key lists older than this are read again. @default 6 h */
  readonly progressMaxAgeMs?: number;
  /**
   * Events start at most one full run per this many ms for users' copied keys
   * (lambda/full-run-budget.ts); the schedule does the rest. @default 1 h
   */
  readonly eventFullRunIntervalMs?: number;
  /** Key lifecycle (docs/key-lifecycle.md): keys older than this many days expire. @default off */
  readonly maxKeyAgeDays?: number;
  /** Longest time-boxed grant, in hours. @default 12 */
  readonly maxGrantHours: number;
  /** Groups whose files hold only FIDO (sk-*) keys, each with verify-required. @default [] */
  readonly verifyRequiredGroups: readonly string[];
  /** User tags `<prefix><IAM group>` = `<UTC ISO 8601 end>` are grants. @default 'ssh-grant:' */
  readonly grantTagPrefix: string;
}

export const DEFAULT_PUBLISH_CONFIG = {
  maxDeleteShare: DEFAULT_MAX_DELETE_SHARE,
  allowMassDelete: false,
  allowIndexReset: false,
  uidBase: DEFAULT_UID_BASE,
  concurrency: 8,
  dryRun: false,
  maxGrantHours: DEFAULT_MAX_GRANT_HOURS,
  verifyRequiredGroups: [] as readonly string[],
  grantTagPrefix: DEFAULT_GRANT_TAG_PREFIX,
} as const;

export interface PublishDeps {
  readonly iam: IAMClient;
  readonly s3: S3Client;
  readonly now: () => Date;
  /** The clients' retry budget (createClients): with a deadline, no retry wait outlasts it. */
  readonly budget?: RunBudget;
}
