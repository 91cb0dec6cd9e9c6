// The login path's core: local user -> principals -> validated key lines.
// Takes the store, the chain runner and the clock as data/functions and
// returns what to print, what to audit and what to say on stderr.

import {
  type Directory,
  DirectoryFormatError,
  directoryKey,
  heartbeatKey,
  parseDirectory,
  parseHeartbeat,
} from '../contract/directory.js';
import { parsePrincipal, principalKey } from '../contract/layout.js';
import {
  expiryTimeMs,
  isExpired,
  type KeyLine,
  type ParsedObject,
  parseObject,
  renderLine,
} from '../contract/line.js';
import { iamToLocalName, isValidLocalName } from '../contract/names.js';
import { auditMessage } from './audit.js';
import type { ChainResult } from './chain.js';
import type { AgentConfig } from './config.js';
import { isFingerprint, readDerived } from './derived.js';
import { errorMessage, ObjectTooLargeError, StoreUnavailableError } from './errors.js';
import { indexAge } from './index-age.js';
import type { ReadOptions, ReadResult, Store } from './store.js';

/** Per object: enough to see what is wrong without flooding stderr. */
const MAX_REJECT_DIAGNOSTICS = 5;

export interface AgentRequest {
  readonly user: string;
  readonly fingerprint?: string;
}

export interface AgentDeps {
  readonly store: Store;
  readonly now: () => number;
  /** The deadline; a function is called only when a read goes to S3 (AbortSignal.timeout costs ~1 ms of a hit). */
  readonly signal?: AbortSignal | (() => AbortSignal);
  /** Runs the configured chain command (already substituted); absent when none is configured. */
  readonly runChain?: () => Promise<ChainResult>;
  /** The local account's uid (from /etc/passwd), for iamUsers mode; undefined when there is none. */
  readonly localUid?: (user: string) => number | undefined;
  /** sshd's pid, written into audit lines. */
  readonly sshdPid?: number;
}

export interface AgentOutcome {
  /** 0: stdout holds every line it should; 1: cannot decide (stdout is empty); 2: bad input. */
  readonly exitCode: 0 | 1 | 2;
  readonly stdout: string;
  readonly diagnostics: string[];
  /** Syslog audit messages (one per returned key), only with a fingerprint. */
  readonly audit: string[];
}

type Source = ReadResult['source'];

interface Collected {
  readonly line: KeyLine;
  readonly principals: string[];
  readonly sources: Source[];
}

/** Shows a hostile string safely in a diagnostic: JSON-escaped, bounded. */
export function shown(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

export interface IamUserMatch {
  readonly principals: string[];
  readonly diagnostics: string[];
}

export {
  deriveObject,
  FINGERPRINT,
  isFingerprint,
  type LineChecks,
  NATIVE_LINE_CHECKS,
  PATTERN_LINE_CHECKS,
  readDerived,
} from './derived.js';
// The one /etc/passwd reader, shared with the admin commands.
export { uidFromPasswd } from './passwd.js';

/**
 * iamUsers mode: the IAM user whose local name is `user`. The directory's
 * localName must agree with our own iamToLocalName (the directory is not
 * trusted to map names); a name claimed by two IAM users maps to nobody. The
 * local account must also carry the uid the publisher allocated to that IAM
 * user (as sync-users creates it): otherwise an IAM user named `root` or
 * `ec2-user` would open that existing account.
 */
export function matchIamUser(
  directory: Directory,
  user: string,
  allowGroups: readonly string[],
  localUid?: number,
): IamUserMatch {
  const diagnostics: string[] = [];
  const matches: string[] = [];
  for (const [iamName, entry] of directory.users) {
    const local = iamToLocalName(iamName);
    const computed = local.ok ? local.name : null;
    if (computed !== user && entry.localName !== user) continue;
    if (computed !== user || entry.localName !== user) {
      diagnostics.push(
        `directory.json: IAM user ${shown(iamName)} has localName ${shown(String(entry.localName))}, expected ${shown(String(computed))}: ignored`,
      );
      continue;
    }
    matches.push(iamName);
  }
  if (matches.length > 1) {
    diagnostics.push(`local user ${user} matches several IAM users (${matches.join(', ')}): none is used`);
    return { principals: [], diagnostics };
  }
  const iamName = matches[0];
  const entry = iamName === undefined ? undefined : directory.users.get(iamName);
  if (iamName === undefined || entry === undefined) return { principals: [], diagnostics };
  if (localUid === undefined || localUid === 0 || localUid !== entry.uid) {
    diagnostics.push(
      `IAM user ${iamName}: local account ${user} has uid ${localUid ?? 'none'}, not the published uid ${entry.uid}: not mapped`,
    );
    return { principals: [], diagnostics };
  }
  if (allowGroups.length > 0 && !entry.groups.some((g) => allowGroups.includes(g))) {
    diagnostics.push(`IAM user ${iamName} is in none of iamUsers.allowGroups: not allowed`);
    return { principals: [], diagnostics };
  }
  return { principals: [`users/${iamName}`], diagnostics };
}

/** Lines of one object that may be printed for this principal at nowMs; the rest become diagnostics. */
export function acceptLines(
  principal: string,
  body: Buffer,
  diagnostics: string[],
  nowMs: number,
): KeyLine[] {
  return acceptParsed(principal, parseObject(body.toString('utf8')), diagnostics, nowMs);
}

/**
 * acceptLines on an already parsed object. A line whose expiry-time has passed is dropped here as
 * sshd would refuse it: a cached object served during an S3 outage never outlives its keys.
 */
export function acceptParsed(
  principal: string,
  parsed: ParsedObject,
  diagnostics: string[],
  nowMs: number,
): KeyLine[] {
  const p = parsePrincipal(principal);
  const out: KeyLine[] = [];
  const rejected: string[] = [];
  for (const r of parsed.rejected) rejected.push(`line ${r.lineNo}: ${r.reason}`);
  for (const l of parsed.lines) {
    // A user's own object may only hold that user's keys.
    if (p.kind === 'users' && l.owner !== p.name) rejected.push(`a key of ${l.owner} in ${principal}`);
    else if (l.expiryTime !== undefined && isExpired(l.expiryTime, nowMs))
      rejected.push(`a key of ${l.owner} (${l.key.fingerprint}): expired at ${expiredAt(l.expiryTime)}`);
    else out.push(l);
  }
  for (const r of rejected.slice(0, MAX_REJECT_DIAGNOSTICS)) diagnostics.push(`${principal}: dropped ${r}`);
  if (rejected.length > MAX_REJECT_DIAGNOSTICS) {
    diagnostics.push(`${principal}: dropped ${rejected.length - MAX_REJECT_DIAGNOSTICS} more invalid lines`);
  }
  return out;
}

function expiredAt(expiryTime: string): string {
  return new Date(expiryTimeMs(expiryTime) ?? 0).toISOString();
}

/** The store reads opts.signal only when it has to fetch: a lazy deadline stays uncreated on a hit. */
function readOptions(signal: AgentDeps['signal']): ReadOptions {
  if (typeof signal !== 'function') return signal ? { signal } : {};
  return {
    get signal() {
      return signal();
    },
  };
}

function fail(diagnostics: string[], message: string, exitCode: 1 | 2 = 1): AgentOutcome {
  diagnostics.push(message);
  return { exitCode, stdout: '', diagnostics, audit: [] };
}

export async function authorizedKeys(
  config: AgentConfig,
  req: AgentRequest,
  deps: AgentDeps,
): Promise<AgentOutcome> {
  const diagnostics: string[] = [];
  // The user name comes from the client: nothing else may see it unchecked.
  if (!isValidLocalName(req.user)) return fail(diagnostics, `invalid user name ${shown(req.user)}`, 2);
  const fp = req.fingerprint;
  if (fp !== undefined && !isFingerprint(fp)) {
    return fail(diagnostics, `invalid fingerprint ${shown(fp)} (expected SHA256:...)`, 2);
  }
  const user = req.user;
  const mapped = mappedPrincipals(config, user);
  if (mapped.length === 0 && !config.iamUsers && !deps.runChain) {
    return { exitCode: 0, stdout: '', diagnostics, audit: [] };
  }

  // The chain runs alongside our reads, under the same deadline.
  const chainP = deps.runChain?.();
  const read = await readPrincipals(config, user, mapped, deps, diagnostics);
  if ('failed' in read) {
    await chainP; // let it finish (it is killed at the deadline) before we answer
    return fail(diagnostics, read.failed);
  }
  const { results } = read;
  const collected = collectLines(results, fp, diagnostics, deps.now());
  const audit = fp !== undefined ? auditLines(collected, user, fp, deps.sshdPid) : [];
  if (fp === undefined) {
    const sources: string[] = [];
    for (const x of results) if (!sources.includes(x.r.source)) sources.push(x.r.source);
    diagnostics.push(
      `user ${user}: ${collected.size} keys from ${results.length} principals (source ${sources.join(',') || 'none'})`,
    );
  }

  // A loop: under Bun, the spread's iterator and join cost a hit ~0.13M instructions more.
  let stdout = '';
  for (const text of collected.keys()) stdout += text;
  const chain = await chainP;
  if (chain) {
    if (chain.ok) stdout += chain.stdout;
    else diagnostics.push(`chain command ignored: ${chain.reason}`);
  }
  return { exitCode: 0, stdout, diagnostics, audit };
}

type PrincipalRead = { principal: string; r: ReadResult };

/**
 * Every object of the user's principals (the config's, and in iamUsers mode
 * the directory's), or why the answer cannot be decided: an object that cannot
 * be read fails the whole answer (an oversized one too), never "no keys".
 */
async function readPrincipals(
  config: AgentConfig,
  user: string,
  mapped: readonly string[],
  deps: AgentDeps,
  diagnostics: string[],
): Promise<{ results: PrincipalRead[] } | { failed: string }> {
  const readOpts = readOptions(deps.signal);
  const read = (principal: string) =>
    deps.store
      .read(principalKey(config.prefix, parsePrincipal(principal)), readOpts)
      .then((r) => ({ principal, r }));
  try {
    // Loops, not map and spreads: this runs at every login (see bunSwitchesSet).
    const reads: Promise<PrincipalRead | PrincipalRead[]>[] = [];
    for (const principal of mapped) reads.push(read(principal));
    if (config.iamUsers) reads.push(resolveIamUser(config, user, deps, diagnostics, read));
    const settled = await Promise.allSettled(reads);
    const results: PrincipalRead[] = [];
    for (const s of settled) {
      if (s.status === 'fulfilled') results.push(...(Array.isArray(s.value) ? s.value : [s.value]));
      else throw s.reason;
    }
    return { results };
  } catch (e) {
    if (
      e instanceof StoreUnavailableError ||
      e instanceof ObjectTooLargeError ||
      e instanceof DirectoryFormatError ||
      e instanceof DirectoryMissingError
    ) {
      return { failed: `cannot decide: ${errorMessage(e)}` };
    }
    return { failed: `cannot decide: unexpected ${errorMessage(e)}` };
  }
}

/** The accepted lines (of the key `fp` only, when given), each once, with every principal that granted it. */
function collectLines(
  results: readonly PrincipalRead[],
  fp: string | undefined,
  diagnostics: string[],
  nowMs: number,
): Map<string, Collected> {
  const collected = new Map<string, Collected>();
  for (const { principal, r } of results) {
    if (!r.found) {
      diagnostics.push(`unknown principal ${principal} (no object in the bucket)`);
      continue;
    }
    const parsed =
      (r.derived !== undefined ? readDerived(r.derived) : undefined) ?? parseObject(r.body.toString('utf8'));
    for (const line of acceptParsed(principal, parsed, diagnostics, nowMs)) {
      if (fp !== undefined && line.key.fingerprint !== fp) continue;
      const text = renderLine(line.owner, line.key, line);
      const c = collected.get(text);
      if (c) {
        c.principals.push(principal);
        c.sources.push(r.source);
      } else collected.set(text, { line, principals: [principal], sources: [r.source] });
    }
  }
  return collected;
}

/** One audit message per returned key. */
function auditLines(
  collected: ReadonlyMap<string, Collected>,
  user: string,
  fp: string,
  sshdPid: number | undefined,
): string[] {
  return [...collected.values()].map((c) =>
    auditMessage({
      user,
      fingerprint: fp,
      owner: c.line.owner,
      principals: c.principals,
      sources: c.sources,
      ...(sshdPid !== undefined ? { sshdPid } : {}),
    }),
  );
}

/** The config's principals for a local user: an own property only (`toString` maps nothing). */
export function mappedPrincipals(config: Pick<AgentConfig, 'users'>, user: string): readonly string[] {
  return Object.hasOwn(config.users, user) ? (config.users[user] ?? []) : [];
}

/** directory.json is absent: iamUsers mode cannot decide (a publisher older than this agent, or none yet). */
export class DirectoryMissingError extends Error {
  override name = 'DirectoryMissingError';
}

/** heartbeat.json only warns: the directory decides who logs in, the heartbeat says how current it is. */
async function heartbeatWarnings(config: AgentConfig, deps: AgentDeps): Promise<string[]> {
  let generatedAt: string;
  try {
    const r = await deps.store.read(heartbeatKey(config.prefix), readOptions(deps.signal));
    if (!r.found) return ['warning: heartbeat.json not found: cannot tell how current directory.json is'];
    generatedAt = parseHeartbeat(r.body.toString('utf8')).generatedAt;
  } catch (e) {
    return [
      `warning: cannot read heartbeat.json (${errorMessage(e)}): cannot tell how current directory.json is`,
    ];
  }
  // A stopped publisher leaves deleted users' keys in place.
  const age = indexAge(generatedAt, deps.now(), config.cache.maxStaleSeconds);
  if (age.stale)
    return [
      `warning: the publisher's last run was ${age.ageSeconds}s ago (publisher stopped?): keys may be outdated`,
    ];
  if (age.future)
    return [`warning: heartbeat.json generatedAt is ${-age.ageSeconds}s in the future (clock skew?)`];
  return [];
}

async function resolveIamUser(
  config: AgentConfig,
  user: string,
  deps: AgentDeps,
  diagnostics: string[],
  read: (principal: string) => Promise<{ principal: string; r: ReadResult }>,
): Promise<{ principal: string; r: ReadResult }[]> {
  const allowGroups = config.iamUsers?.allowGroups ?? [];
  const [r, warnings] = await Promise.all([
    deps.store.read(directoryKey(config.prefix), readOptions(deps.signal)),
    heartbeatWarnings(config, deps),
  ]);
  diagnostics.push(...warnings);
  if (!r.found) {
    throw new DirectoryMissingError(
      'directory.json not found in the bucket (a publisher older than this agent? upgrade the publisher first)',
    );
  }
  const directory = parseDirectory(r.body.toString('utf8'));
  const m = matchIamUser(directory, user, allowGroups, deps.localUid?.(user));
  diagnostics.push(...m.diagnostics);
  // Already mapped through `users`: read once.
  const mapped = mappedPrincipals(config, user);
  const extra = m.principals.filter((p) => !mapped.includes(p));
  return Promise.all(extra.map(read));
}
