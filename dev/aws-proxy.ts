// A loopback HTTP proxy in front of moto_server that records every AWS request
// (service + action), injects faults, and splits IAM list responses into pages:
// moto ignores Marker/MaxItems, real IAM pages at 100 items.
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { listenLoopback } from './loopback.js';

export interface RecordedRequest {
  readonly service: 'iam' | 's3' | 'sts' | 'other';
  /** IAM/STS: the Action; S3: GetObject, PutObject, DeleteObject, ListObjectsV2, HeadObject, ... */
  readonly action: string;
  readonly method: string;
  readonly path: string;
  /** The access key id that signed the request ('' when unsigned). */
  readonly accessKeyId?: string;
  /** The answer's status and body size, set once it is sent (e.g. 304 and 0 for a revalidation). */
  status?: number;
  responseBytes?: number;
}

export interface FaultResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Record<string, string>;
}

export interface ProxyOptions {
  /** Page size for IAM GetAccountAuthorizationDetails and ListSSHPublicKeys. */
  readonly iamPageSize?: number;
  /** Return a response instead of forwarding (fault injection). */
  readonly fault?: (req: RecordedRequest, n: number) => FaultResponse | undefined;
  /** Milliseconds to hold a request before answering it (a slow or stuck server); asked before `fault`. */
  readonly delay?: (req: RecordedRequest, n: number) => number | undefined;
}

export interface AwsProxy {
  readonly endpoint: string;
  readonly requests: RecordedRequest[];
  options: ProxyOptions;
  count(service: RecordedRequest['service'], action?: string): number;
  clear(): void;
  stop(): Promise<void>;
}

export function iamError(code: string, message: string, status = 400): FaultResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml' },
    body: `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>`,
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

function classify(
  method: string,
  path: string,
  headers: IncomingMessage['headers'],
  body: Buffer,
): RecordedRequest {
  const auth = String(headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d+\/[^/]+\/([^/]+)\//.exec(auth)?.[1] ?? '';
  if (scope === 'iam' || scope === 'sts') {
    const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? '?';
    return { service: scope, action, method, path };
  }
  if (scope === 's3') {
    const url = new URL(path, 'http://x');
    const segments = url.pathname.split('/').filter(Boolean);
    let action = `${method}`;
    if (segments.length <= 1) {
      if (method === 'GET' && url.searchParams.get('list-type') === '2') action = 'ListObjectsV2';
      else if (method === 'GET') action = 'ListObjects';
      else if (method === 'PUT') action = 'CreateBucket';
      else if (method === 'POST' && url.searchParams.has('delete')) action = 'DeleteObjects';
    } else {
      action =
        { GET: 'GetObject', PUT: 'PutObject', DELETE: 'DeleteObject', HEAD: 'HeadObject' }[method] ?? method;
    }
    return { service: 's3', action, method, path };
  }
  return { service: 'other', action: method, method, path };
}

/** Splits the top-level <member> elements of the first <tag>...</tag> list. */
function splitList(
  xml: string,
  tag: string,
): { before: string; members: string[]; after: string } | undefined {
  const open = xml.indexOf(`<${tag}>`);
  if (open < 0) return undefined;
  const start = open + tag.length + 2;
  const end = xml.indexOf(`</${tag}>`, start);
  const inner = xml.slice(start, end);
  const members: string[] = [];
  let depth = 0;
  let from = 0;
  const re = /<(\/?)member>/g;
  for (let m = re.exec(inner); m; m = re.exec(inner)) {
    if (m[1] === '') {
      if (depth === 0) from = m.index;
      depth++;
    } else {
      depth--;
      if (depth === 0) members.push(inner.slice(from, m.index + '</member>'.length));
    }
  }
  return { before: xml.slice(0, start), members, after: xml.slice(end) };
}

/** Returns page [offset, offset + size) of every list in a moto IAM response. */
export function pageIamResponse(
  xml: string,
  lists: string[],
  offset: number,
  size: number,
  resultTag: string,
): string {
  let out = xml;
  let more = false;
  for (const tag of lists) {
    const parts = splitList(out, tag);
    if (!parts) continue;
    if (parts.members.length > offset + size) more = true;
    out = parts.before + parts.members.slice(offset, offset + size).join('') + parts.after;
  }
  out = out.replace(/<IsTruncated>[^<]*<\/IsTruncated>/, '').replace(/<Marker>[^<]*<\/Marker>/, '');
  const truncation = more
    ? `<IsTruncated>true</IsTruncated><Marker>page-${offset + size}</Marker>`
    : '<IsTruncated>false</IsTruncated>';
  return out.replace(`</${resultTag}>`, `${truncation}</${resultTag}>`);
}

const PAGED: Record<string, { lists: string[]; result: string }> = {
  GetAccountAuthorizationDetails: {
    lists: ['UserDetailList', 'GroupDetailList', 'RoleDetailList', 'Policies'],
    result: 'GetAccountAuthorizationDetailsResult',
  },
  ListSSHPublicKeys: { lists: ['SSHPublicKeys'], result: 'ListSSHPublicKeysResult' },
};

export async function startAwsProxy(target: string, options: ProxyOptions = {}): Promise<AwsProxy> {
  const targetUrl = new URL(target);
  const requests: RecordedRequest[] = [];
  let n = 0;
  const state = { options };
  const server: Server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const signer = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
      const info: RecordedRequest = {
        ...classify(req.method ?? 'GET', req.url ?? '/', req.headers, body),
        accessKeyId: signer,
      };
      requests.push(info);
      const seq = n++;
      const wait = state.options.delay?.(info, seq);
      if (wait) {
        // A client that gives up (its deadline) ends the wait: nothing is forwarded for it.
        const gone = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), wait);
          res.on('close', () => {
            clearTimeout(t);
            resolve(true);
          });
        });
        if (gone) return;
      }
      const fault = state.options.fault?.(info, seq);
      if (fault) {
        res.writeHead(fault.status, fault.headers ?? {});
        res.end(fault.body);
        return;
      }
      const paged = info.service === 'iam' && state.options.iamPageSize ? PAGED[info.action] : undefined;
      let forwardBody = body;
      let offset = 0;
      if (paged) {
        const params = new URLSearchParams(body.toString('utf8'));
        offset = Number(/^page-(\d+)$/.exec(params.get('Marker') ?? '')?.[1] ?? 0);
        params.delete('Marker');
        params.delete('MaxItems');
        forwardBody = Buffer.from(params.toString());
      }
      const headers = { ...req.headers, host: targetUrl.host, 'content-length': String(forwardBody.length) };
      const upstream = request(
        { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers },
        async (up) => {
          const upBody = await readBody(up);
          if (paged && up.statusCode === 200) {
            const size = state.options.iamPageSize as number;
            const text = pageIamResponse(upBody.toString('utf8'), paged.lists, offset, size, paged.result);
            const h = { ...up.headers, 'content-length': String(Buffer.byteLength(text)) };
            res.writeHead(200, h);
            res.end(text);
            return;
          }
          info.status = up.statusCode ?? 502;
          info.responseBytes = upBody.length;
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(upBody);
        },
      );
      upstream.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      upstream.end(forwardBody);
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });
  const { endpoint } = await listenLoopback(server);
  return {
    endpoint,
    requests,
    get options() {
      return state.options;
    },
    set options(o: ProxyOptions) {
      state.options = o;
    },
    count(service, action) {
      return requests.filter((r) => r.service === service && (action === undefined || r.action === action))
        .length;
    },
    clear() {
      requests.length = 0;
      n = 0;
    },
    stop() {
      return new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    },
  };
}

/** mulberry32: a seeded draw, so every run (test or bench) picks the same requests. */
export function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** ListSSHPublicKeys answering an empty list with 200: what a broken IAM read would look like. */
export function emptyKeyListResponse(): FaultResponse {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: '<ListSSHPublicKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListSSHPublicKeysResult><SSHPublicKeys/><IsTruncated>false</IsTruncated></ListSSHPublicKeysResult></ListSSHPublicKeysResponse>',
  };
}
