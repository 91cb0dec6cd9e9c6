// The publisher's clients give up on a connection that never answers instead of
// holding the run: a real socket that accepts and says nothing.
import { createServer, type Server, type Socket } from 'node:net';
import { ListUsersCommand } from '@aws-sdk/client-iam';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients } from '../../../lambda/clients.js';

let server: Server;
const sockets: Socket[] = [];
const saved: Record<string, string | undefined> = {};
const ENV_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_ENDPOINT_URL',
];

beforeAll(async () => {
  server = createServer((s) => {
    sockets.push(s); // accepted, never answered
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  // The SDK reads credentials and the endpoint override from the process environment.
  for (const k of ENV_KEYS) saved[k] = process.env[k];
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
  });
  delete process.env.AWS_SESSION_TOKEN;
});
afterAll(async () => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('createClients', () => {
  it.each(['s3', 'iam'] as const)(
    '%s: a request that gets no answer fails each attempt at the request timeout, then the call fails',
    async (which) => {
      const { iam, s3 } = createClients({ requestTimeoutMs: 300, maxAttempts: 2 });
      const before = sockets.length;
      const send =
        which === 's3'
          ? s3.send(new ListObjectsV2Command({ Bucket: 'keys-bucket' }))
          : iam.send(new ListUsersCommand({}));
      await expect(send).rejects.toMatchObject({ name: expect.stringMatching(/TimeoutError/) });
      // Both attempts reached the silent server: the timeout ended each, then the call gave up.
      expect(sockets.length - before).toBe(2);
    },
  );
});
