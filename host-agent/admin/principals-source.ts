// refresh-principals: the local-user -> principals map may live outside the
// config file (an SSM parameter, as the original S3 design had it, or an
// instance tag). It is read here, at install/refresh time, never per login,
// and written into the config's "users" atomically after the whole new config
// has been validated. Any failure leaves the config exactly as it was.

import { errorMessage } from '../../contract/errors.js';
import { parsePrincipal } from '../../contract/layout.js';
import { isValidLocalName } from '../../contract/names.js';
import type { AgentConfig } from '../config.js';
import { imdsSession } from '../credentials.js';
import { FetchError } from '../errors.js';
import type { HttpClient } from '../http.js';
import { type Credentials, postSigned, serviceEndpoint } from '../sigv4.js';
import { parseAdminConfig } from './config.js';
import { lookupUser, type ProcessRunner } from './sys.js';

export class PrincipalsSourceError extends Error {
  override name = 'PrincipalsSourceError';
}

export type PrincipalsMap = Record<string, string[]>;

/**
 * Reads a parameter/tag value: either a JSON object like the config's
 * "users" ({"ec2-user": ["groups/Admins"]}) or a list of principals
 * separated by commas or blanks, which then applies to `localUser`.
 */
export function parsePrincipalsValue(value: string, localUser: string | undefined): PrincipalsMap {
  const text = value.trim();
  let map: Record<string, unknown>;
  if (text.startsWith('{')) {
    try {
      map = JSON.parse(text) as Record<string, unknown>;
    } catch (cause) {
      throw new PrincipalsSourceError('the value starts with "{" but is not valid JSON', { cause });
    }
  } else {
    if (!localUser) {
      throw new PrincipalsSourceError(
        'the value is a plain list of principals: say which local user gets them (--local-user)',
      );
    }
    map = { [localUser]: text.split(/[\s,]+/).filter(Boolean) };
  }
  const out: PrincipalsMap = {};
  for (const [user, list] of Object.entries(map)) {
    if (!isValidLocalName(user))
      throw new PrincipalsSourceError(`${JSON.stringify(user)} is not a valid local user name`);
    if (!Array.isArray(list) || list.length === 0) {
      throw new PrincipalsSourceError(`${user}: expected a non-empty list of principals`);
    }
    const principals = list.map((p) => {
      if (typeof p !== 'string') throw new PrincipalsSourceError(`${user}: principals must be strings`);
      try {
        parsePrincipal(p);
      } catch (e) {
        throw new PrincipalsSourceError(`${user}: ${errorMessage(e)}`);
      }
      return p;
    });
    // defineProperty, as config.ts does: a local user named "__proto__" must stay plain data.
    Object.defineProperty(out, user, {
      value: principals,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  if (Object.keys(out).length === 0) throw new PrincipalsSourceError('the value maps no local user');
  return out;
}

/** login.defs' usual UID_MIN: below it are root and the system (daemon) accounts. */
export const MIN_LOGIN_UID = 1000;

/**
 * Local accounts of the map that are root or system accounts (uid below
 * MIN_LOGIN_UID), as "name (uid N)". Whoever can write the parameter or the
 * instance tag would otherwise hand out logins to them. An account that does
 * not exist (uid undefined) is not a system account: sync-users never creates
 * one below MIN_LOGIN_UID.
 */
export function systemAccounts(
  users: PrincipalsMap,
  uidOf: ReadonlyMap<string, number | undefined>,
): string[] {
  return Object.keys(users)
    .filter((u) => {
      const uid = uidOf.get(u);
      return u === 'root' || (uid !== undefined && uid < MIN_LOGIN_UID);
    })
    .map((u) => `${u} (uid ${uidOf.get(u) ?? 0})`);
}

/**
 * Returns the new config text with "users" replaced, or throws when the result
 * would not parse as a config (so a bad value never reaches the file).
 */
export function replaceUsers(
  configText: string,
  users: PrincipalsMap,
  source: string,
): { text: string; config: AgentConfig } {
  const raw = JSON.parse(configText) as Record<string, unknown>;
  const text = `${JSON.stringify({ ...raw, users }, null, 2)}\n`;
  return { text, config: parseAdminConfig(text, `${source} (new users)`) };
}

/** The default parameter name of the original design: /IAM/<instance role>/principals. */
export function defaultParameterName(role: string): string {
  return `/IAM/${role}/principals`;
}

export function ssmEndpoint(env: NodeJS.ProcessEnv, region: string): URL {
  return serviceEndpoint(env, 'ssm', region);
}

export interface SsmDeps {
  readonly http: HttpClient;
  readonly credentials: () => Promise<Credentials>;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => number;
}

/** SSM GetParameter (JSON 1.1 protocol, SigV4), with decryption for SecureString. */
export async function getParameter(name: string, region: string, deps: SsmDeps): Promise<string> {
  const url = ssmEndpoint(deps.env, region);
  const body = JSON.stringify({ Name: name, WithDecryption: true });
  const res = await postSigned(deps.http, {
    url,
    body,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' },
    service: 'ssm',
    region,
    credentials: await deps.credentials(),
    date: new Date(deps.now()),
    maxBytes: 256 * 1024,
    signal: AbortSignal.timeout(10_000),
  });
  let doc: { Parameter?: { Value?: unknown }; __type?: string; message?: string; Message?: string };
  try {
    doc = JSON.parse(res.body.toString('utf8'));
  } catch {
    doc = {};
  }
  if (res.status !== 200) {
    const type = (doc.__type ?? '').split('#').pop() ?? '';
    throw new FetchError(
      `SSM GetParameter ${name} answered ${res.status} ${type} ${doc.message ?? doc.Message ?? ''}`.trim(),
      res.status,
    );
  }
  const value = doc.Parameter?.Value;
  if (typeof value !== 'string') throw new PrincipalsSourceError(`SSM parameter ${name} has no value`);
  return value;
}

/** Per IMDS request, at install/refresh time (not per login): a slow IMDS gets more slack. */
const IMDS_TIMEOUT_MS = 2000;

export type Source =
  | { readonly kind: 'ssm'; readonly name?: string }
  | { readonly kind: 'tag'; readonly tag: string };

export interface RefreshDeps extends SsmDeps {
  readonly configPath: string;
  /** getent passwd, to tell system accounts from login accounts. */
  readonly run: ProcessRunner;
  readonly readText: (path: string) => Promise<string | undefined>;
  readonly writeAtomic: (path: string, content: string, mode: number) => Promise<void>;
  readonly out: (line: string) => void;
}

/** Reads the principals from the source and rewrites the config's "users"; returns the exit code. */
export async function refreshPrincipals(
  source: Source,
  opts: { readonly localUser?: string; readonly dryRun: boolean; readonly allowSystemAccounts?: boolean },
  deps: RefreshDeps,
): Promise<number> {
  const text = await deps.readText(deps.configPath);
  if (text === undefined) throw new PrincipalsSourceError(`${deps.configPath} does not exist`);
  const current = parseAdminConfig(text, deps.configPath);
  let value: string;
  let from: string;
  if (source.kind === 'ssm') {
    let name = source.name;
    if (!name) {
      const imds = await imdsSession(deps, IMDS_TIMEOUT_MS);
      const roles = await imds('/latest/meta-data/iam/security-credentials/');
      const role = roles?.split('\n')[0]?.trim();
      if (!role) throw new PrincipalsSourceError('no --parameter given and no instance role found in IMDS');
      name = defaultParameterName(role);
    }
    value = await getParameter(name, current.region, deps);
    from = `SSM parameter ${name}`;
  } else {
    const imds = await imdsSession(deps, IMDS_TIMEOUT_MS);
    const tag = await imds(`/latest/meta-data/tags/instance/${encodeURIComponent(source.tag)}`);
    if (tag === undefined) {
      throw new PrincipalsSourceError(
        `instance tag ${source.tag} not found (is "instance metadata tags" enabled for this instance?)`,
      );
    }
    value = tag;
    from = `instance tag ${source.tag}`;
  }
  const users = parsePrincipalsValue(value, opts.localUser);
  if (!opts.allowSystemAccounts) {
    const uids = new Map<string, number | undefined>();
    for (const u of Object.keys(users)) uids.set(u, (await lookupUser(deps.run, u))?.uid);
    const system = systemAccounts(users, uids);
    if (system.length > 0) {
      throw new PrincipalsSourceError(
        `${from} maps system account(s) ${system.join(', ')}; refused, config unchanged (pass --allow-system-accounts if intended)`,
      );
    }
  }
  const next = replaceUsers(text, users, deps.configPath);
  if (JSON.stringify(current.users) === JSON.stringify(next.config.users)) {
    deps.out(`refresh-principals: ${deps.configPath} already has the principals from ${from}`);
    return 0;
  }
  const summary = Object.entries(users)
    .map(([u, ps]) => `${u} <- ${ps.join(',')}`)
    .join('; ');
  if (opts.dryRun) {
    deps.out(`refresh-principals: would set users from ${from}: ${summary}`);
    return 0;
  }
  await deps.writeAtomic(deps.configPath, next.text, 0o644);
  deps.out(`refresh-principals: users set from ${from}: ${summary}`);
  return 0;
}
