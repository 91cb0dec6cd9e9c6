// The HttpClient of the standalone agent: Bun's native fetch. A GET through it
// costs ~1.5 ms of CPU and ~4 MiB in a compiled program, through node:http
// ~12 ms and ~13 MiB (node:http drags in Bun's JavaScript streams). What fetch
// does not check, the message framing, is reported as `framed: false`: fetch
// reads exactly Content-Length bytes and drops what follows, so a body sent
// longer than declared arrives cut short without an error. Callers that need
// the whole body verify it another way (s3-fetch.ts: S3's SHA-256 checksum).
import { FetchError, ObjectTooLargeError } from './errors.js';
import { deadlineError, type HttpClient, type HttpResponse, MAX_ERROR_BODY } from './http.js';

/** Bun's own fetch options: no redirects followed, no proxy from the environment, bytes as sent. */
interface BunRequestInit extends RequestInit {
  readonly proxy?: false;
  readonly decompress?: boolean;
  readonly keepalive?: boolean;
}

export const fetchRequest: HttpClient = async (req) => {
  if (req.signal?.aborted) throw deadlineError(req);
  const init: BunRequestInit = {
    method: req.method,
    // identity: a gzip body would be checked against a checksum of other bytes.
    headers: { 'accept-encoding': 'identity', ...req.headers },
    ...(req.body !== undefined ? { body: req.body } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
    // node:http, the other client, follows no redirect and reads no proxy variable: neither does this one.
    redirect: 'manual',
    proxy: false,
    decompress: false,
    keepalive: false,
  };
  try {
    return await read(req, await fetch(req.url, init));
  } catch (e) {
    if (req.signal?.aborted) throw deadlineError(req);
    if (e instanceof ObjectTooLargeError || e instanceof FetchError) throw e;
    const code = (e as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : String(e);
    throw new FetchError(`${req.method} ${req.url.host}: ${why}`, undefined, { cause: e });
  }
};

/** The status, headers and body (bounded like node:http's client), read to the end. */
async function read(req: Parameters<HttpClient>[0], res: Response): Promise<HttpResponse> {
  const ok = res.status >= 200 && res.status < 300;
  const limit = ok ? req.maxBytes : MAX_ERROR_BODY;
  const declared = Number(res.headers.get('content-length'));
  if (ok && declared > limit) {
    await res.body?.cancel();
    throw new ObjectTooLargeError(`object of ${declared} bytes is over the ${limit}-byte limit`);
  }
  const chunks = await readBody(req, res, ok, limit);
  // Names a server sent: no prototype for them to reach.
  const headers: Record<string, string> = Object.create(null);
  res.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { status: res.status, headers, body: Buffer.concat(chunks), framed: false };
}

/** The body's chunks up to `limit`; a connection lost mid-body is said as node:http's client says it. */
async function readBody(
  req: Parameters<HttpClient>[0],
  res: Response,
  ok: boolean,
  limit: number,
): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  if (!reader) return chunks;
  for (;;) {
    let r: Awaited<ReturnType<typeof reader.read>>;
    try {
      r = await reader.read();
    } catch (e) {
      if (req.signal?.aborted) throw e;
      const code = (e as { code?: unknown }).code;
      throw new FetchError(
        `${req.method} ${req.url.host}: connection closed mid-body${typeof code === 'string' ? ` (${code})` : ''}`,
        undefined,
        { cause: e },
      );
    }
    if (r.done) return chunks;
    size += r.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      if (ok) throw new ObjectTooLargeError(`object is over the ${limit}-byte limit`);
      return chunks; // error body: a truncated message is fine
    }
    chunks.push(r.value);
  }
}
