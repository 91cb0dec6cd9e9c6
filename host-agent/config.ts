// Host agent configuration (docs/architecture.md "Host agent"): parsed strictly, so a typo
// is a clear error at the first login attempt instead of silently ignored.
import { readFileSync, statSync } from 'node:fs';
import { isBucketName, isRegionName } from '../contract/aws-names.js';
import { errorMessage } from '../contract/errors.js';
import { IAM_GROUP_NAME, InvalidPrefixError, normalizePrefix, parsePrincipal } from '../contract/layout.js';
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

export interface SyncUsersConfig {
  markerGroup: string;
  localGroups: string[];
  groupMap: Record<string, string>;
  sudoGroups: string[] | '##ALL##';
  removeHome: boolean;
  /** Give managed accounts whose uid is not the published one that uid (usermod -u). */
  renumber: boolean;
}

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
  syncUsers?: SyncUsersConfig;
  /** Where audit lines go (logger -u). Not in the contract's example; defaults to /dev/log. */
  syslogSocket: string;
  /** Local accounts for iamUsers mode's uid check. Defaults to /etc/passwd. */
  passwdFile: string;
  /** The "audit" section as written: ship-audit parses it (host-agent/admin/audit/config.ts), the login path never does. */
  audit?: unknown;
  /** The "sessions" section as written: `sessions` parses it (host-agent/admin/sessions/config.ts), the login path never does. */
  sessions?: unknown;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every key the parser accepts, by level (docs/host-agent.md's table is checked against these). */
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
    'syncUsers',
    // Parsed by `sessions` only (admin/sessions/config.ts).
    'sessions',
    'syslogSocket',
    'passwdFile',
    // Parsed by ship-audit only (host-agent/admin/audit/config.ts): the login path never reads it.
    'audit',
  ],
  cache: ['dir', 'ttlSeconds', 'maxStaleSeconds'],
  iamUsers: ['allowGroups'],
  syncUsers: ['markerGroup', 'localGroups', 'groupMap', 'sudoGroups', 'removeHome', 'renumber'],
} as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set(CONFIG_KEYS.top);
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const LOCAL_GROUP = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

type Obj = Record<string, unknown>;

function define<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/**
 * Validates a parsed config and applies defaults. Throws ConfigError with one
 * line naming the source and the offending field.
 */
export function parseConfig(text: string, source: string): AgentConfig {
  const bad = (msg: string): never => {
    throw new ConfigError(`${source}: ${msg}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${source}: not valid JSON (${errorMessage(cause)})`, { cause });
  }
  if (!isObj(raw)) return bad('the config must be a JSON object');
  for (const k of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(k)) bad(`unknown setting ${JSON.stringify(k)}`);
  }

  const str = (v: unknown, field: string): string =>
    typeof v === 'string' && v !== '' ? v : bad(`${field} must be a non-empty string`);
  const int = (v: unknown, field: string, def: number, min: number, max: number): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return bad(`${field} must be an integer from ${min} to ${max}`);
    }
    return v;
  };
  const strList = (v: unknown, field: string, check: (s: string) => boolean, what: string): string[] => {
    if (!Array.isArray(v)) return bad(`${field} must be a list`);
    return v.map((s, i) =>
      typeof s === 'string' && check(s) ? s : bad(`${field}[${i}] must be ${what}, got ${JSON.stringify(s)}`),
    );
  };

  const bucket = str(raw.bucket, 'bucket');
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

  const region = str(raw.region, 'region');
  if (!isRegionName(region)) bad(`region ${JSON.stringify(region)} is not a valid region name`);

  const config: AgentConfig = {
    bucket,
    prefix,
    region,
    users: {},
    cache: {
      dir: DEFAULT_CACHE_DIR,
      ttlSeconds: DEFAULT_TTL_SECONDS,
      maxStaleSeconds: DEFAULT_MAX_STALE_SECONDS,
    },
    deadlineMs: int(raw.deadlineMs, 'deadlineMs', DEFAULT_DEADLINE_MS, 100, 60_000),
    syslogSocket: absolutePath(raw.syslogSocket, 'syslogSocket', DEFAULT_SYSLOG_SOCKET, bad),
    passwdFile: absolutePath(raw.passwdFile, 'passwdFile', '/etc/passwd', bad),
  };

  if (raw.endpoint !== undefined) config.endpoint = parseEndpoint(str(raw.endpoint, 'endpoint'), bad);
  const fips = parseUseFips(raw.useFipsEndpoint, config.endpoint, bad);
  if (fips !== undefined) config.useFipsEndpoint = fips;

  if (raw.users !== undefined) {
    if (!isObj(raw.users)) bad('users must be an object of local user -> principals');
    for (const [local, principals] of Object.entries(raw.users as Obj)) {
      if (!isValidLocalName(local)) bad(`users: ${JSON.stringify(local)} is not a valid local user name`);
      // defineProperty: a local user named "__proto__" must stay plain data.
      define(
        config.users,
        local,
        strList(
          principals,
          `users.${local}`,
          (p) => {
            try {
              parsePrincipal(p);
              return true;
            } catch {
              return false;
            }
          },
          'users/<IAM user> or groups/<IAM group>',
        ),
      );
    }
  }

  if (raw.iamUsers !== undefined) {
    if (!isObj(raw.iamUsers)) bad('iamUsers must be an object like {"allowGroups": []}');
    const iu = raw.iamUsers as Obj;
    for (const k of Object.keys(iu))
      if (!(CONFIG_KEYS.iamUsers as readonly string[]).includes(k))
        bad(`iamUsers: unknown setting ${JSON.stringify(k)}`);
    config.iamUsers = {
      allowGroups:
        iu.allowGroups === undefined
          ? []
          : strList(
              iu.allowGroups,
              'iamUsers.allowGroups',
              (g) => IAM_GROUP_NAME.test(g),
              'an IAM group name',
            ),
    };
  }

  if (raw.cache !== undefined) {
    if (!isObj(raw.cache)) bad('cache must be an object');
    const c = raw.cache as Obj;
    for (const k of Object.keys(c)) {
      if (!(CONFIG_KEYS.cache as readonly string[]).includes(k))
        bad(`cache: unknown setting ${JSON.stringify(k)}`);
    }
    const dir = c.dir === undefined ? DEFAULT_CACHE_DIR : str(c.dir, 'cache.dir');
    if (!dir.startsWith('/') || dir.includes('\0')) bad('cache.dir must be an absolute path');
    const ttlSeconds = int(c.ttlSeconds, 'cache.ttlSeconds', DEFAULT_TTL_SECONDS, 0, 86_400);
    const maxStaleSeconds = int(
      c.maxStaleSeconds,
      'cache.maxStaleSeconds',
      Math.max(DEFAULT_MAX_STALE_SECONDS, ttlSeconds),
      0,
      90 * 86_400,
    );
    if (maxStaleSeconds < ttlSeconds) bad('cache.maxStaleSeconds must not be smaller than cache.ttlSeconds');
    config.cache = { dir, ttlSeconds, maxStaleSeconds };
  }

  if (raw.roleArn !== undefined) {
    const arn = str(raw.roleArn, 'roleArn');
    if (!ROLE_ARN.test(arn)) bad(`roleArn ${JSON.stringify(arn)} is not an IAM role ARN`);
    config.roleArn = arn;
  }

  if (raw.chain !== undefined) config.chain = parseChain(raw.chain, bad, strList);
  if (raw.syncUsers !== undefined) config.syncUsers = parseSyncUsers(raw.syncUsers, bad, strList);
  for (const k of ['audit', 'sessions'] as const) if (raw[k] !== undefined) config[k] = raw[k];

  return config;
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
function parseChain(
  v: unknown,
  bad: (m: string) => never,
  strList: (v: unknown, field: string, check: (s: string) => boolean, what: string) => string[],
): string[] {
  let argv: string[];
  try {
    argv =
      typeof v === 'string'
        ? splitCommandLine(v)
        : strList(v, 'chain', (s) => s !== '' && !s.includes('\0'), 'a non-empty string');
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

function parseSyncUsers(
  v: unknown,
  bad: (m: string) => never,
  strList: (v: unknown, field: string, check: (s: string) => boolean, what: string) => string[],
): SyncUsersConfig {
  if (!isObj(v)) return bad('syncUsers must be an object');
  for (const k of Object.keys(v)) {
    if (!(CONFIG_KEYS.syncUsers as readonly string[]).includes(k)) {
      bad(`syncUsers: unknown setting ${JSON.stringify(k)}`);
    }
  }
  const markerGroup = v.markerGroup === undefined ? 'iam-synced-users' : v.markerGroup;
  if (typeof markerGroup !== 'string' || !LOCAL_GROUP.test(markerGroup)) {
    bad('syncUsers.markerGroup must be a local group name');
  }
  const localGroups =
    v.localGroups === undefined
      ? []
      : strList(v.localGroups, 'syncUsers.localGroups', (g) => LOCAL_GROUP.test(g), 'a local group name');
  const groupMap: Record<string, string> = {};
  if (v.groupMap !== undefined) {
    if (!isObj(v.groupMap)) bad('syncUsers.groupMap must be an object of IAM group -> local group');
    for (const [iam, local] of Object.entries(v.groupMap as Obj)) {
      if (!IAM_GROUP_NAME.test(iam))
        bad(`syncUsers.groupMap: ${JSON.stringify(iam)} is not an IAM group name`);
      if (typeof local !== 'string' || !LOCAL_GROUP.test(local)) {
        bad(`syncUsers.groupMap.${iam} must be a local group name`);
      }
      define(groupMap, iam, local as string);
    }
  }
  let sudoGroups: string[] | '##ALL##' = [];
  if (v.sudoGroups === '##ALL##') sudoGroups = '##ALL##';
  else if (v.sudoGroups !== undefined) {
    sudoGroups = strList(
      v.sudoGroups,
      'syncUsers.sudoGroups',
      (g) => IAM_GROUP_NAME.test(g),
      'an IAM group name',
    );
  }
  if (v.removeHome !== undefined && typeof v.removeHome !== 'boolean')
    bad('syncUsers.removeHome must be true or false');
  if (v.renumber !== undefined && typeof v.renumber !== 'boolean')
    bad('syncUsers.renumber must be true or false');
  return {
    markerGroup: markerGroup as string,
    localGroups,
    groupMap,
    sudoGroups,
    removeHome: v.removeHome === true,
    renumber: v.renumber === true,
  };
}

/**
 * Reads and parses the config file. Refuses a file that others could have
 * written: it decides which keys open which accounts.
 */
export function loadConfig(path: string): AgentConfig {
  let text: string;
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
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${path}: cannot read config (${code})`, { cause: e });
  }
  return parseConfig(text, path);
}
