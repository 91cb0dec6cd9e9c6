// `iam-ssh-keys logins`: lists the audit bucket's dt= partitions of the range
// (ListObjectsV2, every page), reads each object, and hands the records to the
// pure core (logins-report.ts); with --keys-bucket, index.json fills in key ids.
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { errorMessage } from '../contract/errors.js';
import { parseIndex } from '../contract/index.js';
import { readIndexText } from '../lambda/bucket.js';
import type { Command } from './args.js';
import {
  auditPartitions,
  loginsReport,
  recordsOfObject,
  resolveTime,
  type ShippedRecord,
  withKeyIds,
} from './logins-report.js';

export class LoginsError extends Error {
  override name = 'LoginsError';
}

export type LoginsCommand = Extract<Command, { cmd: 'logins' }>;
type Out = (line: string) => void;

/** Listings and objects read at once (a year's range is 367 listings). */
const PARALLEL_READS = 16;

async function listKeys(s3: S3Client, bucket: string, prefix: string, pageSize?: number): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    let page: ListObjectsV2CommandOutput;
    try {
      page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ...(pageSize ? { MaxKeys: pageSize } : {}),
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
    } catch (e) {
      throw new LoginsError(`S3 ListObjectsV2 s3://${bucket}/${prefix} failed: ${describe(e)}`, { cause: e });
    }
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await res.Body?.transformToString('utf8')) ?? '';
  } catch (e) {
    throw new LoginsError(`S3 GetObject s3://${bucket}/${key} failed: ${describe(e)}`, { cause: e });
  }
}

function describe(e: unknown): string {
  const name = (e as { name?: string }).name ?? '';
  const message = errorMessage(e);
  return message && message !== name ? `${name}: ${message}` : name || message;
}

/** Every record in the partitions, and the problems found on the way. */
export async function readShipped(
  s3: S3Client,
  bucket: string,
  partitions: readonly string[],
  /** ListObjectsV2 MaxKeys (tests: several pages from a few objects). @default S3's 1,000 */
  pageSize?: number,
): Promise<{ records: ShippedRecord[]; problems: string[] }> {
  const keys: string[] = [];
  for (let i = 0; i < partitions.length; i += PARALLEL_READS) {
    // Settled, not raced: a failed listing leaves no request of this run in flight.
    const listed = await Promise.allSettled(
      partitions.slice(i, i + PARALLEL_READS).map((p) => listKeys(s3, bucket, p, pageSize)),
    );
    const failed = listed.find((l) => l.status === 'rejected');
    if (failed) throw failed.reason;
    keys.push(...listed.flatMap((l) => (l.status === 'fulfilled' ? l.value : [])));
  }
  const records: ShippedRecord[] = [];
  const problems: string[] = [];
  for (let i = 0; i < keys.length; i += PARALLEL_READS) {
    const batch = keys.slice(i, i + PARALLEL_READS);
    const texts = await Promise.all(batch.map((k) => readObject(s3, bucket, k)));
    batch.forEach((key, j) => {
      const got = recordsOfObject(key, texts[j] ?? '');
      records.push(...got.records);
      problems.push(...got.problems);
    });
  }
  return { records, problems };
}

export async function runLogins(
  c: LoginsCommand,
  s3: S3Client,
  out: Out,
  err: Out,
  now: () => Date = () => new Date(),
): Promise<number> {
  const at = now();
  const since = resolveTime(c.since, at);
  const until = c.until ? resolveTime(c.until, at) : at;
  if (since.getTime() >= until.getTime()) {
    throw new LoginsError(`--since (${since.toISOString()}) is not before --until (${until.toISOString()})`);
  }
  const [shipped, indexText] = await Promise.all([
    readShipped(s3, c.bucket, auditPartitions(since, until)),
    c.keysBucket ? readIndexText(s3, c.keysBucket, c.keysPrefix ?? '') : Promise.resolve(undefined),
  ]);
  if (c.keysBucket && indexText === undefined) {
    err(
      `iam-ssh-keys: s3://${c.keysBucket}/${c.keysPrefix ?? ''}index.json does not exist: key ids not filled in`,
    );
  }
  const index = indexText === undefined ? undefined : parseIndex(indexText);
  const report = loginsReport(
    withKeyIds(shipped.records, index),
    shipped.problems,
    { since, until, user: c.user, instance: c.instance, localUser: c.localUser },
    c.json,
  );
  for (const l of report.lines) out(l);
  for (const n of report.notes) err(`iam-ssh-keys: ${n}`);
  return 0;
}
