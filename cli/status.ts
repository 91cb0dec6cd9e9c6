// `iam-ssh-keys status`: reads index.json and the publisher's progress.json, renders with
// the pure functions of status-report.ts, and returns the exit code (docs/cli-status.md).
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorMessage } from '../contract/errors.js';
import { parseIndex } from '../contract/index.js';
import { readIndexText } from '../lambda/bucket.js';
import { progressKey } from '../lambda/progress.js';
import { firstImportReport, progressOf, type StatusReport, statusReport } from './status-report.js';

export class StatusError extends Error {
  override name = 'StatusError';
}

/** progress.json's text; undefined when absent. Not being allowed to read it is not an error of status. */
async function readProgressText(s3: S3Client, bucket: string, prefix: string): Promise<string | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: progressKey(prefix) }));
    return await (res.Body?.transformToString('utf8') ?? Promise.resolve(''));
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'AccessDenied' || name === 'Forbidden') return undefined;
    throw new StatusError(`S3 GetObject ${progressKey(prefix)} failed: ${errorMessage(e) || name}`, {
      cause: e,
    });
  }
}

export async function runStatus(
  c: {
    readonly bucket: string;
    readonly maxAge: number;
    readonly json: boolean;
    readonly expiringWithin?: number;
  },
  s3: S3Client,
  prefix: string,
  out: (line: string) => void,
  now: () => Date = () => new Date(),
): Promise<number> {
  const [indexText, progressText] = await Promise.all([
    readIndexText(s3, c.bucket, prefix),
    readProgressText(s3, c.bucket, prefix),
  ]);
  const progress = progressOf(progressText);
  const location = `s3://${c.bucket}/${prefix}index.json`;
  let report: StatusReport;
  if (indexText !== undefined)
    report = statusReport(parseIndex(indexText), now(), c.maxAge, progress, c.expiringWithin);
  else if (progress) report = firstImportReport(progress, now(), location);
  else throw new StatusError(`${location} does not exist: nothing was published yet`);
  if (c.json) out(JSON.stringify(report.data, null, 2));
  else for (const l of report.lines) out(l);
  return report.exitCode;
}
