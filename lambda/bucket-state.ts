// The bucket as a run finds it, read the same way by full and targeted runs:
// the listing, then index.json (the publisher's state) when the listing has it.
import type { S3Client } from '@aws-sdk/client-s3';
import { IndexFormatError, indexKey, type PublishedIndex, parseIndex } from '../contract/index.js';
import { listExisting, readIndexText } from './bucket.js';
import type { ExistingObject } from './plan.js';

export interface BucketState {
  /** Every object under the prefix (key and ETag). */
  readonly existing: readonly ExistingObject[];
  /** The previous index.json, when present and readable. */
  readonly previous: PublishedIndex | undefined;
  /** Why there is no previous index ('index.json is missing', '... is unreadable (...)'); undefined when read. */
  readonly indexProblem: string | undefined;
}

/** True when the listing holds `key`. */
export function listed(state: BucketState, key: string): boolean {
  return state.existing.some((o) => o.key === key);
}

export async function readBucketState(
  s3: S3Client,
  bucket: string,
  prefix: string,
  pageSize?: number,
): Promise<BucketState> {
  const existing = await listExisting(s3, bucket, prefix, pageSize);
  // Read index.json only when the listing has it: with ListBucket limited to the
  // prefix, S3 may answer 403 rather than 404 for a missing object.
  const text = existing.some((o) => o.key === indexKey(prefix))
    ? await readIndexText(s3, bucket, prefix)
    : undefined;
  if (text === undefined) return { existing, previous: undefined, indexProblem: 'index.json is missing' };
  try {
    return { existing, previous: parseIndex(text), indexProblem: undefined };
  } catch (e) {
    if (!(e instanceof IndexFormatError)) throw e;
    return { existing, previous: undefined, indexProblem: `index.json is unreadable (${e.message})` };
  }
}
