// Host agent configuration (docs/architecture.md "Host agent"): parsed strictly, so a typo
// is a clear error at the first login attempt instead of silently ignored.
import { readFileSync, statSync } from 'node:fs';
import { isBucketName, isRegionName } from '../contract/aws-names.js';
import { allIn, CLASS } from '../contract/charset.js';
import { errorMessage } from '../contract/errors.js';
import { InvalidPrefixError, isIamGroupName, normalizePrefix, parsePrincipal } from '../contract/layout.js';
import { isValidLocalName } from '../contract/names.js';
import { isRecord as isObj } from '../contract/records.js';
import { checkChainTokens, splitCommandLine } from './chain.js';
import { checkEndpoint } from './endpoint.js';
import { ChainCommandError, EndpointError } from './errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/iam-authorized-keys.json';
export const DEFAULT_CACHE_DIR = '/var/cache/iam-authorized-keys';
export const DEFAULT_TTL_SECONDS = 30;
export const DEFAULT_MAX_STALE_SECONDS = 86_400;
export const DEFAULT_DEADLINE_MS = 3000;
export const DEFAULT_SYSLOG_SOCKET = '/dev/log';

export interface AgentConfig {
  bucket: string;
  /** Normalised: '' or 'p/'. */
  prefix: string;
  region: string;
  endpoint?: string;
  /** FIPS endpoints for S3 and STS (host-agent/fips.ts); unset: AWS_USE_FIPS_ENDPOINT decides. */
  useFipsEndpoint?: boolean;
  /** Local account -> principals ('users/alice', 'groups/Admins'). */
  users: Record<string, string[]>;
  iamUsers?: { allowGroups: string[] };
  cache: { dir: string; ttlSeconds: number; maxStaleSeconds: number };
  roleArn?: string;
  deadlineMs: number;
  /** argv of another AuthorizedKeysCommand; %u and %f are substituted per item. */
  chain?: string[];
  /** Where audit lines go (logger -u). Not in the contract's example; defaults to /dev/log. */
  syslogSocket: string;
  /** Local accounts for iamUsers mode's uid check. Defaults to /etc/passwd. */
  passwdFile: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Admin-only sections of the config file. The login parser accepts each key
 * and never reads its value; the admin commands parse it (host-agent/admin/config.ts
 * holds one parser per section, next to its command). So no login loads or runs
 * that code, and a mistake in such a section fails the admin command that reads
 * it (and doctor), not every login. To add a section: its name here, its keys
 * and parser in admin/config.ts (the type checker asks for them).
 */
export const ADMIN_SECTIONS = ['syncUsers', 'audit', 'sessions'] as const;
export type AdminSection = (typeof ADMIN_SECTIONS)[number];

/**
 * Every key the login parser accepts, by level; the keys inside admin-only
 * sections are in admin/config.ts (docs/host-agent.md's table is checked against both).
 */
export const CONFIG_KEYS = {
  top: [
    'bucket',
    'prefix',
    'region',
    'endpoint',
    'useFipsEndpoint',
    'users',
    'iamUsers',
    'cache',
    'roleArn',
    'deadlineMs',
    'chain',
    'syslogSocket',
    'passwdFile',
    ...ADMIN_SECTIONS,
  ],
  cache: ['dir', 'ttlSeconds', 'maxStaleSeconds'],
  iamUsers: ['allowGroups'],
} as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set(CONFIG_KEYS.top);
/** An IAM role ARN in any partition; isRoleArn checks it without the pattern (contract/charset.ts). */
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export function isRoleArn(s: string): boolean {
  if (!s.startsWith('arn:aws')) return false;
  const colon = s.indexOf(':', 7);
  if (colon === -1 || !allIn(s, CLASS.partitionTail, 7, colon) || !s.startsWith(':iam::', colon))
    return false;
  const account = colon + 6;
  const path = account + 12 + ':role/'.length;
  const pathLength = s.length - path;
  return (
    allIn(s, CLASS.digit, account, account + 12) &&
    s.startsWith(':role/', account + 12) &&
    pathLength >= 1 &&
    pathLength <= 512 &&
    allIn(s, CLASS.rolePath, path)
  );
}

type Obj = Record<string, unknown>;

/** Sets an own property: a key named "__proto__" stays plain data. */
export function define<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** The field checks of one config file: each failure is a ConfigError naming the file and the field. */
export interface ConfigFields {
  bad(msg: string): never;
  str(v: unknown, field: string): string;
  int(v: unknown, field: string, def: number, min: number, max: number): number;
  strList(v: unknown, field: string, check: (s: string) => boolean, what: string): string[];
}

export function configFields(source: string): ConfigFields {
  const bad = (msg: string): never => {
    throw new ConfigError(`${source}: ${msg}`);
  };
  return {
    bad,
    str: (v, field) => (typeof v === 'string' && v !== '' ? v : bad(`${field} must be a non-empty string`)),
    int(v, field, def, min, max) {
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        return bad(`${field} must be an integer from ${min} to ${max}`);
      }
      return v;
    },
    strList(v, field, check, what) {
      if (!Array.isArray(v)) return bad(`${field} must be a list`);
      // A loop, not map: this runs at every login (see bunSwitchesSet).
      const out: string[] = [];
      for (let i = 0; i < v.length; i++) {
        const s: unknown = v[i];
        out.push(
          typeof s === 'string' && check(s)
            ? s
            : bad(`${field}[${i}] must be ${what}, got ${JSON.stringify(s)}`),
        );
      }
      return out;
    },
  };
}

/** The file's JSON: an object of known top-level keys. */
export function configObject(text: string, source: string): Obj {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${source}: not valid JSON (${errorMessage(cause)})`, { cause });
  }
  const { bad } = configFields(source);
  if (!isObj(raw)) return bad('the config must be a JSON object');
  for (const k of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(k)) bad(`unknown setting ${JSON.stringify(k)}`);
  }
  return raw;
}

/**
 * Validates a parsed config and applies defaults. Throws ConfigError with one
 * line naming the source and the offending field.
 */
export function parseConfig(text: string, source: string): AgentConfig {
  const raw = configObject(text, source);
  const f = configFields(source);
  const { bad } = f;
  const config: AgentConfig = {
    ...parseLocation(raw, f),
    users: {},
    cache: {
      dir: DEFAULT_CACHE_DIR,
      ttlSeconds: DEFAULT_TTL_SECONDS,
      maxStaleSeconds: DEFAULT_MAX_STALE_SECONDS,
    },
    deadlineMs: f.int(raw.deadlineMs, 'deadlineMs', DEFAULT_DEADLINE_MS, 100, 60_000),
    syslogSocket: absolutePath(raw.syslogSocket, 'syslogSocket', DEFAULT_SYSLOG_SOCKET, bad),
    passwdFile: absolutePath(raw.passwdFile, 'passwdFile', '/etc/passwd', bad),
  };

  if (raw.endpoint !== undefined) config.endpoint = parseEndpoint(f.str(raw.endpoint, 'endpoint'), bad);
  const fips = parseUseFips(raw.useFipsEndpoint, config.endpoint, bad);
  if (fips !== undefined) config.useFipsEndpoint = fips;
  if (raw.users !== undefined) config.users = parseUsers(raw.users, f);
  if (raw.iamUsers !== undefined) config.iamUsers = parseIamUsers(raw.iamUsers, f);
  if (raw.cache !== undefined) config.cache = parseCache(raw.cache, f);
  if (raw.roleArn !== undefined) {
    const arn = f.str(raw.roleArn, 'roleArn');
    if (!isRoleArn(arn)) bad(`roleArn ${JSON.stringify(arn)} is not an IAM role ARN`);
    config.roleArn = arn;
  }
  if (raw.chain !== undefined) config.chain = parseChain(raw.chain, f);
  // ADMIN_SECTIONS: accepted above, parsed by the admin commands only.
  return config;
}

/** bucket, prefix (normalised) and region. */
function parseLocation(raw: Obj, f: ConfigFields): Pick<AgentConfig, 'bucket' | 'prefix' | 'region'> {
  const { bad } = f;
  const bucket = f.str(raw.bucket, 'bucket');
  if (!isBucketName(bucket)) bad(`bucket ${JSON.stringify(bucket)} is not a valid name`);

  let prefix = '';
  if (raw.prefix !== undefined) {
    if (typeof raw.prefix !== 'string') bad('prefix must be a string');
    try {
      prefix = normalizePrefix(raw.prefix as string);
    } catch (e) {
      if (e instanceof InvalidPrefixError) bad(e.message);
      throw e;
    }
  }

  const region = f.str(raw.region, 'region');
  if (!isRegionName(region)) bad(`region ${JSON.stringify(region)} is not a valid region name`);
  return { bucket, prefix, region };
}

function isPrincipal(p: string): boolean {
  try {
    parsePrincipal(p);
    return true;
  } catch {
    return false;
  }
}

/** `users`: local account -> principals. */
function parseUsers(v: unknown, f: ConfigFields): AgentConfig['users'] {
  if (!isObj(v)) f.bad('users must be an object of local user -> principals');
  const users: AgentConfig['users'] = {};
  for (const [local, principals] of Object.entries(v as Obj)) {
    if (!isValidLocalName(local)) f.bad(`users: ${JSON.stringify(local)} is not a valid local user name`);
    // defineProperty: a local user named "__proto__" must stay plain data.
    define(
      users,
      local,
      f.strList(principals, `users.${local}`, isPrincipal, 'users/<IAM user> or groups/<IAM group>'),
    );
  }
  return users;
}

function parseIamUsers(v: unknown, f: ConfigFields): NonNullable<AgentConfig['iamUsers']> {
  if (!isObj(v)) f.bad('iamUsers must be an object like {"allowGroups": []}');
  const iu = v as Obj;
  for (const k of Object.keys(iu))
    if (!(CONFIG_KEYS.iamUsers as readonly string[]).includes(k))
      f.bad(`iamUsers: unknown setting ${JSON.stringify(k)}`);
  return {
    allowGroups:
      iu.allowGroups === undefined
        ? []
        : f.strList(iu.allowGroups, 'iamUsers.allowGroups', isIamGroupName, 'an IAM group name'),
  };
}

function parseCache(v: unknown, f: ConfigFields): AgentConfig['cache'] {
  if (!isObj(v)) f.bad('cache must be an object');
  const c = v as Obj;
  for (const k of Object.keys(c)) {
    if (!(CONFIG_KEYS.cache as readonly string[]).includes(k))
      f.bad(`cache: unknown setting ${JSON.stringify(k)}`);
  }
  const dir = c.dir === undefined ? DEFAULT_CACHE_DIR : f.str(c.dir, 'cache.dir');
  if (!dir.startsWith('/') || dir.includes('\0')) f.bad('cache.dir must be an absolute path');
  const ttlSeconds = f.int(c.ttlSeconds, 'cache.ttlSeconds', DEFAULT_TTL_SECONDS, 0, 86_400);
  const maxStaleSeconds = f.int(
    c.maxStaleSeconds,
    'cache.maxStaleSeconds',
    Math.max(DEFAULT_MAX_STALE_SECONDS, ttlSeconds),
    0,
    90 * 86_400,
  );
  if (maxStaleSeconds < ttlSeconds) f.bad('cache.maxStaleSeconds must not be smaller than cache.ttlSeconds');
  return { dir, ttlSeconds, maxStaleSeconds };
}

function absolutePath(v: unknown, field: string, dflt: string, bad: (m: string) => never): string {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || v === '') return bad(`${field} must be a non-empty string`);
  return v.startsWith('/') ? v : bad(`${field} must be an absolute path`);
}

/** useFipsEndpoint: FIPS endpoints for S3 and STS (host-agent/fips.ts); undefined: AWS_USE_FIPS_ENDPOINT decides. */
function parseUseFips(
  v: unknown,
  endpoint: string | undefined,
  bad: (m: string) => never,
): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') return bad('useFipsEndpoint must be true or false');
  // As the AWS SDK: which of the two was meant is unclear (a FIPS endpoint goes in endpoint alone).
  if (v && endpoint) bad('endpoint cannot be combined with useFipsEndpoint');
  return v;
}

function parseEndpoint(text: string, bad: (m: string) => never): string {
  try {
    return checkEndpoint(text, 'endpoint');
  } catch (e) {
    if (e instanceof EndpointError) return bad(e.message);
    throw e;
  }
}

/**
 * `chain`: a command line, split as sshd splits AuthorizedKeysCommand, or an argv
 * list. Its tokens must be ones the agent can fill (checkChainTokens).
 */
function parseChain(v: unknown, f: ConfigFields): string[] {
  const { bad } = f;
  let argv: string[];
  try {
    argv =
      typeof v === 'string'
        ? splitCommandLine(v)
        : f.strList(v, 'chain', (s) => s !== '' && !s.includes('\0'), 'a non-empty string');
    checkChainTokens(argv);
  } catch (e) {
    if (e instanceof ChainCommandError) return bad(`chain: ${e.message}`);
    throw e;
  }
  const cmd = argv[0];
  // No shell and no PATH lookup: the command runs with the agent's privileges at every login.
  if (cmd === undefined || !cmd.startsWith('/') || argv.some((a) => a.includes('\0'))) {
    bad('chain must be an absolute command path or an argv list starting with one');
  }
  return argv;
}

/** Reads and parses the config file (readConfigText's checks). */
export function loadConfig(path: string): AgentConfig {
  return parseConfig(readConfigText(path), path);
}

/**
 * Reads the config file. Refuses a file that others could have written: it
 * decides which keys open which accounts.
 */
export function readConfigText(path: string): string {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(`${path}: not a regular file`);
    if (st.mode & 0o022) throw new ConfigError(`${path}: refusing a group- or world-writable config file`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== 0 && st.uid !== uid) {
      throw new ConfigError(
        `${path}: refusing a config file owned by uid ${st.uid} (expected root or ${uid})`,
      );
    }
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${path}: cannot read config (${code})`, { cause: e });
  }
}
