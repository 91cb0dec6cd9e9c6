// A loopback HTTP proxy in front of moto_server for the reliability suite
// (test/reliability/): it records every request (with its decoded body, so
// what a client wrote can be compared byte for byte) and can replace any one
// answer by a fault, down to the socket: an AWS error, a reset before or in
// the middle of the headers, no answer at all, slow headers, a slow or
// truncated body, a Content-Length that lies. dev/aws-proxy.ts is the
// simpler recording proxy the integration tests use; this one adds the faults
// that need raw socket writes.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import { listenLoopback } from '../../dev/loopback.js';

export type Service = 'iam' | 's3' | 'sts' | 'other';

export interface ProxyRequest {
  /** 0-based arrival order since the last clear(). */
  readonly n: number;
  readonly service: Service;
  /** IAM/STS: the Action; S3: GetObject, PutObject, DeleteObject, ListObjectsV2, HeadObject, ... */
  readonly action: string;
  readonly method: string;
  readonly path: string;
  /** S3 object operations: the object key (decoded), without the bucket. */
  readonly key?: string;
  /** IAM/STS: the form parameters. */
  readonly params?: Readonly<Record<string, string>>;
  readonly headers: IncomingHttpHeaders;
  /** The request body, aws-chunked framing removed. */
  readonly body: Buffer;
}

export interface Upstream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export type Fault =
  /** Answer this instead of forwarding. */
  | {
      readonly kind: 'respond';
      readonly status: number;
      readonly body: string;
      readonly headers?: Record<string, string>;
    }
  /** TCP reset before a byte of the answer. */
  | { readonly kind: 'reset' }
  /** Half a status line and header block, then a TCP reset. */
  | { readonly kind: 'reset-mid-headers' }
  /** Never answer: only the client's own deadline ends the request. */
  | { readonly kind: 'hang' }
  /** Forward (the target acts on it, e.g. stores a PUT), then hold the answer forever: a client killed meanwhile never learns. */
  | { readonly kind: 'forward-then-hang'; readonly forwarded?: (up: Upstream) => void }
  /** Forward only after `ms`, then answer (slow headers; a write that lands late). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Forward; headers and the first half of the body at once, the rest after `ms`. */
  | { readonly kind: 'slow-body'; readonly ms: number }
  /** Forward; the full Content-Length is announced, half the body sent, then the connection closed. */
  | { readonly kind: 'truncate' }
  /**
   * Forward; the whole body is sent under a Content-Length off by `delta` bytes, then the connection
   * closed. `without` names upstream headers left out (e.g. an object's checksum).
   */
  | { readonly kind: 'content-length'; readonly delta: number; readonly without?: readonly string[] }
  /** Forward; the upstream answer is replaced by what `fn` makes of it. */
  | { readonly kind: 'rewrite'; readonly fn: (up: Upstream) => Upstream };

export interface FaultProxyOptions {
  /** Called for every request before it is forwarded; a Fault replaces the normal answer. */
  fault?: (req: ProxyRequest) => Fault | undefined;
  /** Called for every request (after it is recorded, before any answer): e.g. to kill a client mid-run. */
  onRequest?: (req: ProxyRequest) => void;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly requests: ProxyRequest[];
  /** Requests that got a fault instead of the upstream answer. */
  readonly faulted: ProxyRequest[];
  options: FaultProxyOptions;
  count(service: Service, action?: string): number;
  /**
   * Resolves once no request has been open for `quietMs` (at most `maxMs`): a client that gave up
   * may still have requests in flight, and what they do belongs to the run that sent them.
   */
  settle(quietMs?: number, maxMs?: number): Promise<void>;
  clear(): void;
  stop(): Promise<void>;
}

/** An AWS query-API error (IAM, STS). */
export function queryError(code: string, message: string, status = 400): Fault {
  return {
    kind: 'respond',
    status,
    headers: { 'content-type': 'text/xml' },
    body: `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>`,
  };
}

/** An S3 REST error. */
export function s3Error(code: string, message: string, status: number): Fault {
  return {
    kind: 'respond',
    status,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`,
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Removes aws-chunked framing (`<hex>[;ext]\r\n<data>\r\n ... 0\r\n<trailers>\r\n`). */
export function decodeAwsChunked(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let off = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', off);
    if (eol < 0) return Buffer.concat(out);
    const size = Number.parseInt((buf.toString('latin1', off, eol).split(';')[0] ?? '').trim(), 16);
    if (!Number.isFinite(size) || size === 0) return Buffer.concat(out);
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    off = eol + 2 + size + 2;
  }
}

function classify(
  n: number,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  raw: Buffer,
): ProxyRequest {
  const chunked = String(headers['content-encoding'] ?? '').includes('aws-chunked');
  const body = chunked ? decodeAwsChunked(raw) : raw;
  const auth = String(headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? '';
  const base = { n, method, path, headers, body };
  if (scope === 'iam' || scope === 'sts') {
    const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    return { ...base, service: scope, action: params.Action ?? '?', params };
  }
  if (scope === 's3') {
    const url = new URL(path, 'http://x');
    const segments = url.pathname.split('/').slice(1);
    if (segments.length <= 1 || (segments.length === 2 && segments[1] === '')) {
      let action = method;
      if (method === 'GET' && url.searchParams.get('list-type') === '2') action = 'ListObjectsV2';
      else if (method === 'GET') action = 'ListObjects';
      else if (method === 'PUT') action = 'CreateBucket';
      else if (method === 'POST' && url.searchParams.has('delete')) action = 'DeleteObjects';
      return { ...base, service: 's3', action };
    }
    const action =
      { GET: 'GetObject', PUT: 'PutObject', DELETE: 'DeleteObject', HEAD: 'HeadObject' }[method] ?? method;
    const key = segments.slice(1).map(decodeURIComponent).join('/');
    return { ...base, service: 's3', action, key };
  }
  return { ...base, service: 'other', action: method };
}

/** Forwards one request to the target and reads the whole answer. */
function forward(target: URL, req: ProxyRequest): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: target.host };
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    up.on('error', reject);
    // The raw body as it came (aws-chunked framing included): moto decodes it itself.
    up.end(rawBodies.get(req) ?? req.body);
  });
}
const rawBodies = new WeakMap<ProxyRequest, Buffer>();

/** Status line and header block of an answer, with our own Content-Length and Connection: close. */
function head(up: Upstream, contentLength: number): string {
  const lines = [`HTTP/1.1 ${up.status} ${STATUS_CODES[up.status] ?? 'Unknown'}`];
  for (const [name, value] of Object.entries(up.headers)) {
    if (['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name)) continue;
    for (const v of Array.isArray(value) ? value : [value ?? '']) lines.push(`${name}: ${v}`);
  }
  lines.push(`content-length: ${contentLength}`, 'connection: close', '', '');
  return lines.join('\r\n');
}

export async function startFaultProxy(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const requests: ProxyRequest[] = [];
  const faulted: ProxyRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let n = 0;
  let open = 0;
  let lastChange = Date.now();
  const state = { options };
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const server = createServer(async (req, res) => {
    const socket = req.socket;
    open++;
    lastChange = Date.now();
    res.once('close', () => {
      open--;
      lastChange = Date.now();
    });
    const raw = await readBody(req).catch(() => Buffer.alloc(0));
    const info = classify(n++, req.method ?? 'GET', req.url ?? '/', req.headers, raw);
    rawBodies.set(info, raw);
    requests.push(info);
    try {
      state.options.onRequest?.(info);
      const fault = state.options.fault?.(info);
      if (fault) faulted.push(info);
      const send = (up: Upstream) => {
        if (socket.destroyed) return;
        res.writeHead(up.status, up.headers);
        res.end(up.body);
      };
      const upstream = () => forward(targetUrl, info);
      switch (fault?.kind) {
        case undefined:
          send(await upstream());
          return;
        case 'respond':
          res.writeHead(fault.status, {
            ...fault.headers,
            'content-length': String(Buffer.byteLength(fault.body)),
          });
          res.end(fault.body);
          return;
        case 'reset':
          socket.resetAndDestroy();
          return;
        case 'reset-mid-headers':
          socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/pl', () => socket.resetAndDestroy());
          return;
        case 'hang':
          return;
        case 'forward-then-hang':
          fault.forwarded?.(await upstream());
          return;
        case 'delay':
          // The request itself reaches the target only then (a PUT lands late).
          later(fault.ms, () => {
            if (!socket.destroyed) upstream().then(send, () => socket.destroy());
          });
          return;
        case 'rewrite': {
          // A consistent answer with the new body: Content-Length follows it.
          const out = fault.fn(await upstream());
          if (socket.destroyed) return;
          const headers = { ...out.headers, 'content-length': String(out.body.length) };
          delete headers['transfer-encoding'];
          res.writeHead(out.status, headers);
          res.end(out.body);
          return;
        }
        case 'slow-body': {
          const up = await upstream();
          const half = Math.floor(up.body.length / 2);
          socket.write(head(up, up.body.length));
          socket.write(up.body.subarray(0, half));
          later(fault.ms, () => {
            if (!socket.destroyed) socket.end(up.body.subarray(half));
          });
          return;
        }
        case 'truncate': {
          const up = await upstream();
          socket.write(head(up, up.body.length));
          socket.end(up.body.subarray(0, Math.floor(up.body.length / 2)));
          return;
        }
        case 'content-length': {
          const got = await upstream();
          const headers = Object.fromEntries(
            Object.entries(got.headers).filter(([name]) => !fault.without?.includes(name)),
          );
          const up = { ...got, headers };
          socket.end(Buffer.concat([Buffer.from(head(up, up.body.length + fault.delta)), up.body]));
          return;
        }
      }
    } catch (e) {
      if (!socket.destroyed) {
        res.writeHead(502);
        res.end(String(e));
      }
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const { endpoint } = await listenLoopback(server);
  return {
    endpoint,
    requests,
    faulted,
    get options() {
      return state.options;
    },
    set options(o: FaultProxyOptions) {
      state.options = o;
    },
    count(service, action) {
      return requests.filter((r) => r.service === service && (action === undefined || r.action === action))
        .length;
    },
    async settle(quietMs = 300, maxMs = 15_000) {
      const until = Date.now() + maxMs;
      while (Date.now() < until && (open > 0 || Date.now() - lastChange < quietMs)) {
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    clear() {
      requests.length = 0;
      faulted.length = 0;
      n = 0;
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    },
  };
}
