// S3 I/O of the publisher: list what is there, read the previous index, write
// and delete objects. Errors keep the SDK error as cause.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { indexKey } from '../contract/index.js';
import type { ExistingObject } from './plan.js';

export class BucketError extends Error {
  override name = 'BucketError';
}

function wrap(what: string, bucket: string, e: unknown): BucketError {
  const err = e as { name?: string; message?: string };
  const hint =
    err.name === 'NoSuchBucket'
      ? `bucket ${bucket} does not exist`
      : err.name === 'AccessDenied' || err.name === 'Forbidden'
        ? `access denied to bucket ${bucket}`
        : `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
  return new BucketError(`S3 ${what} failed: ${hint}`, { cause: e });
}

export async function listExisting(
  s3: S3Client,
  bucket: string,
  prefix: string,
  pageSize?: number,
): Promise<ExistingObject[]> {
  const out: ExistingObject[] = [];
  try {
    for await (const page of paginateListObjectsV2(
      { client: s3, ...(pageSize ? { pageSize } : {}) },
      { Bucket: bucket, Prefix: prefix },
    )) {
      for (const o of page.Contents ?? [])
        if (o.Key)
          out.push({
            key: o.Key,
            ...(o.ETag ? { etag: o.ETag } : {}),
            sha256: o.ChecksumAlgorithm?.includes('SHA256') ?? false,
          });
    }
  } catch (e) {
    throw wrap('ListObjectsV2', bucket, e);
  }
  return out;
}

/** The previous index.json's text, or undefined when there is none. */
export async function readIndexText(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<string | undefined> {
  return readText(s3, bucket, indexKey(prefix));
}

/** An object's text, or undefined when there is none. */
export async function readText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await (res.Body?.transformToString('utf8') ?? Promise.resolve(''));
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
    throw wrap(`GetObject ${key.split('/').pop()}`, bucket, e);
  }
}

/** `signal` aborts the PUT (a run's deadline: progress.json must be saved before it, or not at all). */
export async function putText(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        // A Buffer with its length: an empty string body reads as a stream of unknown length to the SDK.
        Body: Buffer.from(body, 'utf8'),
        ContentLength: Buffer.byteLength(body, 'utf8'),
        ContentType: key.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8',
        CacheControl: 'no-cache',
        // Hosts check every body they read against it (S3 returns it on a GET with checksum mode).
        ChecksumAlgorithm: 'SHA256',
      }),
      signal ? { abortSignal: signal } : {},
    );
  } catch (e) {
    throw wrap(`PutObject ${key}`, bucket, e);
  }
}

export async function deleteKey(s3: S3Client, bucket: string, key: string): Promise<void> {
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } catch (e) {
    throw wrap(`DeleteObject ${key}`, bucket, e);
  }
}
