// The URL an SDK client would send a command to, with no network: a build-step
// middleware (after endpoint resolution and serialization) records the request and
// stops it. For tests of which endpoint a client resolves (FIPS, overrides).
import type { HttpRequest } from '@smithy/types';

class Captured extends Error {
  override name = 'Captured';
  constructor(readonly url: string) {
    super(url);
  }
}

interface SdkClient {
  middlewareStack: { add: (mw: unknown, opts: { step: 'build'; name: string }) => void };
  send: (command: never) => Promise<unknown>;
}

export async function requestUrl(client: unknown, command: unknown): Promise<string> {
  const c = client as SdkClient;
  c.middlewareStack.add(
    () => async (args: { request: HttpRequest }) => {
      const r = args.request;
      throw new Captured(`${r.protocol}//${r.hostname}${r.port ? `:${r.port}` : ''}${r.path}`);
    },
    { step: 'build', name: 'captureRequestUrl' },
  );
  try {
    await c.send(command as never);
  } catch (e) {
    if (e instanceof Captured) return e.url;
    throw e;
  }
  throw new Error('the request was sent');
}
