// The one interface between store.ts and s3-fetch.ts: store.ts loads the S3
// fetcher lazily (on a cache miss) and s3-fetch.ts implements it; both import it from here.

export type FetchResult = { status: 200; body: Buffer; etag?: string } | { status: 304 } | { status: 404 };

/** GETs one object key of the configured bucket. Throws on anything but 200/304/404. */
export interface Fetcher {
  get(key: string, opts: { etag?: string; signal?: AbortSignal }): Promise<FetchResult>;
}
