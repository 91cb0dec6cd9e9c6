// The agent's HTTP(S) client interface, and its node:http/https client (node's
// global fetch costs ~0.2 s and ~50 MB more to load: measured, see
// bench/agent.ts). Bounded body, abortable. The standalone agent uses Bun's
// fetch instead (fetch-http.ts; http-client.ts picks by runtime).
import { FetchError, ObjectTooLargeError } from './errors.js';

export interface HttpRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly signal?: AbortSignal;
  /** Largest body accepted for a 2xx answer; larger throws ObjectTooLargeError. */
  readonly maxBytes: number;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-case names; no prototype. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /**
   * The client checked the body against the message's framing: a body longer or shorter than
   * its Content-Length, or a chunked body cut short, failed the request. When false, only a
   * closed connection is caught, and the body may be a prefix of what was sent.
   */
  readonly framed: boolean;
}

export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>;

/** Error bodies are only read for a message: keep them small. */
export const MAX_ERROR_BODY = 64 * 1024;

/** A request cut short by its deadline (the login's, or a command's). */
export function deadlineError(req: Pick<HttpRequest, 'method' | 'url'>): FetchError {
  return new FetchError(`${req.method} ${req.url.host}: deadline reached`);
}

/** node:http(s); framed: node's parser fails a body that does not match its framing. */
export const nodeRequest: HttpClient = async (req) => {
  // Loaded on demand: https (with tls) costs ~5 ms of start-up, and plain-http endpoints never need it.
  const send =
    req.url.protocol === 'https:'
      ? (await import('./lazy-https.js')).httpsRequest
      : (await import('./lazy-http.js')).httpRequest;
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) {
      reject(deadlineError(req));
      return;
    }
    const r = send(req.url, {
      method: req.method,
      headers: {
        ...req.headers,
        ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}),
      },
      agent: false,
    });
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      req.signal?.removeEventListener('abort', onAbort);
      r.destroy();
      reject(e);
    };
    const onAbort = () => fail(deadlineError(req));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.on('error', (e) =>
      fail(
        new FetchError(`${req.method} ${req.url.host}: ${(e as NodeJS.ErrnoException).code ?? e.message}`),
      ),
    );
    r.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const limit = status >= 200 && status < 300 ? req.maxBytes : MAX_ERROR_BODY;
      const declared = Number(res.headers['content-length']);
      if (status >= 200 && status < 300 && declared > limit) {
        fail(new ObjectTooLargeError(`object of ${declared} bytes is over the ${limit}-byte limit`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          if (status >= 200 && status < 300) {
            fail(new ObjectTooLargeError(`object is over the ${limit}-byte limit`));
          } else {
            res.destroy(); // error body: a truncated message is fine
          }
          return;
        }
        chunks.push(c);
      });
      res.on('error', (e) => fail(new FetchError(`${req.method} ${req.url.host}: ${e.message}`)));
      const done = () => {
        if (settled) return;
        settled = true;
        req.signal?.removeEventListener('abort', onAbort);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks), framed: true });
      };
      res.on('end', done);
      res.on('close', () => {
        if (!res.complete && status >= 200 && status < 300) {
          fail(new FetchError(`${req.method} ${req.url.host}: connection closed mid-body`));
        } else done();
      });
    });
    r.end(req.body);
  });
};
