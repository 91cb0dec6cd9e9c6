// Signature checks for the stand-in S3 servers of tests: moto does not check SigV4, so a stand-in in front of it
// recomputes each request's signature with the agent's signer (itself checked against @smithy/signature-v4)
// over the headers the request says it signed, and compares.
import type { IncomingMessage } from 'node:http';
import { type Credentials, signRequest } from '../host-agent/sigv4.js';

export interface SignatureCheck {
  /** The Authorization header is the signature of this request with these credentials. */
  readonly ok: boolean;
  readonly region: string | undefined;
  /** As the request names them (`host;x-amz-date;...`). */
  readonly signedHeaders: string | undefined;
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/;
const AMZ_DATE = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/;

/** Checks an S3 request's SigV4 signature; the session token, if any, must be the credentials' own. */
export function checkS3Signature(req: IncomingMessage, credentials: Credentials): SignatureCheck {
  const auth = String(req.headers.authorization ?? '');
  const m = AUTH.exec(auth);
  const d = AMZ_DATE.exec(String(req.headers['x-amz-date'] ?? ''));
  const region = m?.[2];
  const signedHeaders = m?.[3];
  if (!m || !d || !region || !signedHeaders || m[1] !== credentials.accessKeyId) {
    return { ok: false, region, signedHeaders };
  }
  const [, y, mo, da, h, mi, s] = d.map(Number) as number[];
  // host, x-amz-date and the session token are added by the signer itself.
  const own = ['host', 'x-amz-date', 'x-amz-security-token'];
  const headers = Object.fromEntries(
    signedHeaders
      .split(';')
      .filter((n) => !own.includes(n))
      .map((n) => [n, String(req.headers[n] ?? '')]),
  );
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const expected = signRequest({
    method: req.method ?? '',
    host: String(req.headers.host),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    payloadHash: String(req.headers['x-amz-content-sha256'] ?? ''),
    service: 's3',
    region,
    credentials,
    date: new Date(Date.UTC(y as number, (mo as number) - 1, da, h, mi, s)),
  });
  const token = req.headers['x-amz-security-token'];
  const tokenOk = credentials.sessionToken ? token === credentials.sessionToken : token === undefined;
  return { ok: expected.authorization === auth && tokenOk, region, signedHeaders };
}
