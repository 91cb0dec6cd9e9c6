// A fake EC2 instance metadata service (IMDSv2) on loopback, for the host
// agent's credential chain (AWS_EC2_METADATA_SERVICE_ENDPOINT points at it):
// session token, role name, role credentials, with the faults of the
// reliability suite (slow, hanging, expired credentials).
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { listenLoopback } from '../../dev/loopback.js';

export type ImdsMode =
  /** Answers every request at once. */
  | { readonly kind: 'ok' }
  /** Answers every request after `ms`. */
  | { readonly kind: 'slow'; readonly ms: number }
  /** Accepts connections and never answers. */
  | { readonly kind: 'hang' }
  /** Role credentials whose Expiration is in the past (and a session token S3 will refuse). */
  | { readonly kind: 'expired' };

export const IMDS_ROLE = 'ssh-key-reader';
export const IMDS_ACCESS_KEY_ID = 'ASIAIMDSFAKE00000001';
export const IMDS_TOKEN_OK = 'imds-session-token-ok';
export const IMDS_TOKEN_EXPIRED = 'imds-session-token-expired';
/** The instance identity document's fields (ship-audit's host facts). */
export const IMDS_IDENTITY = {
  instanceId: 'i-0fa4e2b7c9d1e3f50',
  accountId: '123456789012',
  region: 'us-east-1',
} as const;

export interface FakeImds {
  readonly endpoint: string;
  mode: ImdsMode;
  /** Requests seen ("METHOD path"). */
  readonly requests: string[];
  stop(): Promise<void>;
}

export async function startFakeImds(mode: ImdsMode = { kind: 'ok' }): Promise<FakeImds> {
  const state = { mode };
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const m = state.mode;
    if (m.kind === 'hang') return;
    const answer = () => {
      const session = 'imds-session';
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(session);
        return;
      }
      if (req.headers['x-aws-ec2-metadata-token'] !== session) {
        res.writeHead(401);
        res.end();
        return;
      }
      if (req.url === '/latest/dynamic/instance-identity/document') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(
          JSON.stringify({
            ...IMDS_IDENTITY,
            availabilityZone: `${IMDS_IDENTITY.region}a`,
            architecture: 'x86_64',
          }),
        );
        return;
      }
      if (req.url === '/latest/meta-data/iam/security-credentials/') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(IMDS_ROLE);
        return;
      }
      if (req.url === `/latest/meta-data/iam/security-credentials/${IMDS_ROLE}`) {
        const expired = m.kind === 'expired';
        const now = Date.now();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(
          JSON.stringify({
            Code: 'Success',
            LastUpdated: new Date(now - (expired ? 7 : 1) * 3600_000).toISOString(),
            Type: 'AWS-HMAC',
            AccessKeyId: IMDS_ACCESS_KEY_ID,
            SecretAccessKey: 'imds/secret/access/key/EXAMPLE',
            Token: expired ? IMDS_TOKEN_EXPIRED : IMDS_TOKEN_OK,
            Expiration: new Date(now + (expired ? -3600_000 : 5 * 3600_000)).toISOString(),
          }),
        );
        return;
      }
      res.writeHead(404);
      res.end();
    };
    if (m.kind === 'slow') {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!req.socket.destroyed) answer();
      }, m.ms);
      timers.add(t);
    } else answer();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const { endpoint } = await listenLoopback(server);
  return {
    endpoint,
    requests,
    get mode() {
      return state.mode;
    },
    set mode(v: ImdsMode) {
      state.mode = v;
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
