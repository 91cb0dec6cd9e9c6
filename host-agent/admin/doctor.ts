// doctor: one line per check (ok / FAIL + why), non-zero exit if any fails.
// Each check is a pure evaluation of facts gathered through injected deps.
import { directoryKey, heartbeatKey, parseDirectory, parseHeartbeat } from '../../contract/directory.js';
import { errorMessage } from '../../contract/errors.js';
import { type AgentConfig, DEFAULT_CONFIG_PATH } from '../config.js';
import { stsEndpoint } from '../credentials.js';
import { checkFipsEndpoints, fipsStsUrl, fipsWanted } from '../fips.js';
import { indexAge } from '../index-age.js';
import { objectUrl } from '../s3-fetch.js';
import {
  privateDirProblem,
  resolvedPathProblems,
  type StatLike,
  securePathProblems,
} from '../secure-path.js';
import { isStandaloneExecutable } from './install/plan.js';
import { agentCommandLine, auditSettingProblems, parseSshdT } from './install/sshd-config.js';
import { runSshd } from './sshd-runtime.js';
import type { ProcessRunner } from './sys.js';

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

const ok = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });
const fail = (name: string, detail: string): CheckResult => ({ name, ok: false, detail });

export function formatCheck(c: CheckResult): string {
  return `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`;
}

/** Where the agent's requests go: S3 and, with roleArn, STS; FIPS ones when wanted (or why not). */
export function evaluateEndpoints(config: AgentConfig, env: NodeJS.ProcessEnv): CheckResult {
  try {
    checkFipsEndpoints(config, env);
    const s3 = objectUrl(config, env, heartbeatKey(config.prefix)).origin;
    const sts = config.roleArn
      ? `, STS ${(fipsStsUrl(config, env) ?? stsEndpoint(env, config.region)).origin}`
      : '';
    return ok('endpoints', `S3 ${s3}${sts}${fipsWanted(config, env) ? ' (FIPS)' : ''}`);
  } catch (e) {
    return fail('endpoints', errorMessage(e));
  }
}

/** heartbeat.json's generatedAt: older than the limit means the publisher is not running. */
export function evaluateIndexAge(generatedAt: string, now: number, maxStaleSeconds: number): CheckResult {
  const age = indexAge(generatedAt, now, maxStaleSeconds);
  const detail = `heartbeat.json: the publisher's last run was ${age.ageSeconds}s ago (limit ${age.limitSeconds}s)`;
  if (age.stale) return fail('bucket', `${detail}: the publisher has not run recently`);
  if (age.future) return fail('bucket', `${detail}: generatedAt is in the future (clock skew?)`);
  return ok('bucket', detail);
}

/**
 * The heartbeat's age, and in iamUsers mode directory.json as the login path
 * reads it (same size limit): a missing, oversized or malformed one fails.
 */
async function bucketChecks(
  config: AgentConfig,
  deps: Pick<DoctorDeps, 'readObject' | 'now'>,
): Promise<CheckResult[]> {
  const read = async (key: string, use: (text: string) => CheckResult): Promise<CheckResult> => {
    try {
      const body = await deps.readObject(config, key);
      return body ? use(body.toString('utf8')) : fail('bucket', `${key} not found in ${config.bucket}`);
    } catch (e) {
      return fail('bucket', `cannot read ${key}: ${errorMessage(e)}`);
    }
  };
  const out = [
    await read(heartbeatKey(config.prefix), (text) =>
      evaluateIndexAge(parseHeartbeat(text).generatedAt, deps.now(), config.cache.maxStaleSeconds),
    ),
  ];
  if (config.iamUsers) {
    out.push(
      await read(directoryKey(config.prefix), (text) =>
        ok('directory', `${directoryKey(config.prefix)}: ${parseDirectory(text).users.size} IAM users`),
      ),
    );
  }
  return out;
}

export function evaluateSshdT(output: string, expectedCommand: string, expectedUser: string): CheckResult {
  const eff = parseSshdT(output);
  const cmd = eff.get('authorizedkeyscommand') ?? 'none';
  const user = eff.get('authorizedkeyscommanduser') ?? 'none';
  if (cmd !== expectedCommand)
    return fail('sshd', `AuthorizedKeysCommand is "${cmd}", expected "${expectedCommand}"`);
  if (user !== expectedUser)
    return fail('sshd', `AuthorizedKeysCommandUser is ${user}, expected ${expectedUser}`);
  const audit = auditSettingProblems(eff);
  if (audit.length > 0) return fail('sshd', audit.join('; '));
  return ok('sshd', `runs "${cmd}" as ${user}`);
}

/** A process as /proc shows it: what it executes (exe, resolved) and its arguments. */
export interface ProcessInfo {
  readonly pid: number;
  readonly exe: string | undefined;
  readonly argv: readonly string[];
}

/** What runs as the agent user and what it owns, outside sshd's commands and its own directories. */
export interface AgentUserActivity {
  readonly processes: readonly ProcessInfo[];
  /** One file or directory it owns outside the cache dir and its home (a bounded search), if any. */
  readonly ownedFile: string | undefined;
}

/**
 * The agent user must be its own: the cache is trusted by its owner's uid, so
 * any other process running as that uid could forge the keys sshd is given.
 * FAIL for root, for nobody (shared by design), for processes other than
 * sshd's commands (`programs`: the agent, its interpreter's script, the chained
 * command, the audit's timeout and logger), and for files it owns elsewhere.
 */
export function evaluateAgentUser(
  user: string,
  uid: number,
  activity: AgentUserActivity,
  programs: ReadonlySet<string>,
): CheckResult {
  const name = 'agent user';
  if (uid === 0) return fail(name, `${user} is root: the agent never needs root`);
  if (user === 'nobody' || uid === 65534) {
    return fail(
      name,
      `${user} (uid ${uid}) is nobody, shared by other services: any of them could forge the cache`,
    );
  }
  const others = activity.processes.filter(
    (p) =>
      !(p.exe !== undefined && programs.has(p.exe)) && !(p.argv[1] !== undefined && programs.has(p.argv[1])),
  );
  if (others.length > 0) {
    const list = others
      .slice(0, 3)
      .map((p) => `${p.pid} (${p.argv[0] ?? p.exe ?? '?'})`)
      .join(', ');
    return fail(
      name,
      `${others.length} other process(es) run as ${user}: ${list}; they could forge the cache`,
    );
  }
  if (activity.ownedFile) {
    return fail(name, `${user} owns ${activity.ownedFile} outside the cache dir and its home: is it shared?`);
  }
  return ok(
    name,
    `${user} (uid ${uid}) runs only sshd's commands and owns nothing outside the cache dir and its home`,
  );
}

export function evaluateCacheDir(
  dir: string,
  st: (StatLike & { gid?: number }) | undefined,
  agentUid: number | undefined,
): CheckResult {
  if (!st) return fail('cache dir', `${dir} does not exist (the agent runs without a cache)`);
  const problem = privateDirProblem(dir, st, agentUid ?? st.uid);
  if (problem) return fail('cache dir', agentUid === undefined ? problem : `${problem} (the agent user)`);
  return ok('cache dir', `${dir} owned by uid ${st.uid}, mode 700`);
}

/** How the installed agent starts: a standalone executable, or a script and its interpreter. */
export type Launcher =
  | { readonly kind: 'standalone' }
  | { readonly kind: 'script'; readonly interpreter?: string };

/** From the first bytes of the installed file. */
export function launcherOf(head: Buffer | undefined): Launcher {
  if (head && isStandaloneExecutable(head)) return { kind: 'standalone' };
  const interpreter = shebangInterpreter(head?.subarray(0, 256).toString('utf8'));
  return interpreter ? { kind: 'script', interpreter } : { kind: 'script' };
}

export function evaluateBinary(
  binPath: string,
  launcher: Launcher,
  stat: (p: string) => StatLike | undefined,
  realpath?: (p: string) => string | undefined,
): CheckResult {
  const problems = [...securePathProblems(binPath, stat), ...resolvedPathProblems(binPath, stat, realpath)];
  if (launcher.kind === 'standalone') {
    if (problems.length > 0) return fail('binary', problems.join('; '));
    return ok('binary', `${binPath} (standalone executable) is root-owned, not group/world-writable`);
  }
  const { interpreter } = launcher;
  if (interpreter) problems.push(...securePathProblems(interpreter, stat));
  else problems.push(`${binPath} has no #! interpreter line`);
  if (problems.length > 0) return fail('binary', problems.join('; '));
  return ok('binary', `${binPath} and ${interpreter} are root-owned, not group/world-writable`);
}

/** The interpreter of a `#!/path [arg]` line (`/usr/bin/env node` counts as /usr/bin/env). */
export function shebangInterpreter(text: string | undefined): string | undefined {
  const m = text ? /^#!\s*(\S+)/.exec(text) : null;
  return m?.[1];
}

export interface DoctorDeps {
  readonly configPath: string;
  readonly binPath: string;
  readonly sshdBinary: string;
  readonly sshdConfig: string;
  readonly agentUser: string;
  readonly loadConfig: (path: string) => AgentConfig;
  /** The agent's environment as doctor sees it (AWS_USE_FIPS_ENDPOINT, AWS_ENDPOINT_URL*). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Resolves credentials the way the agent does; returns the access key id. */
  readonly credentials: (config: AgentConfig) => Promise<string>;
  /** Reads one object straight from S3 (no cache). */
  readonly readObject: (config: AgentConfig, key: string) => Promise<Buffer | undefined>;
  readonly run: ProcessRunner;
  /** sshd's privilege-separation dir on a host where sshd never ran (as its service unit would create it). */
  readonly createRuntimeDir: (path: string) => Promise<void>;
  readonly stat: (p: string) => (StatLike & { gid?: number }) | undefined;
  /** Symlinks resolved (sshd checks the real path); optional for fakes without links. */
  readonly realpath?: (p: string) => string | undefined;
  readonly readBytes: (p: string) => Promise<Buffer | undefined>;
  readonly userUid: (user: string) => Promise<number | undefined>;
  /** Processes and files of the agent user (uid), outside the cache dir; optional for fakes. */
  readonly agentUserActivity?: (uid: number, cacheDir: string) => Promise<AgentUserActivity>;
  /** Programs sshd's commands run as the agent user (resolved paths), for agentUserActivity. */
  readonly sshdPrograms?: (config: AgentConfig) => ReadonlySet<string>;
  readonly now: () => number;
  /** Writes one test line to the config's syslog socket through logger, as the agent user; rejects when it is not written. */
  readonly auditCheck: (config: AgentConfig) => Promise<void>;
  /** Runs the installed binary as the agent user with sshd's minimal environment, for one local user. */
  readonly runAsAgent: (args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
}

/** What sshd would see: exit 0 and only well-formed lines, or why not. */
export function evaluateSelfTest(
  localUser: string,
  r: { code: number; stdout: string; stderr: string },
): CheckResult {
  const lines = r.stdout.split('\n').filter(Boolean).length;
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').slice(-2).join(' / ') || `exit ${r.code}`;
    return fail('self-test', `as the agent user, "${localUser}" failed: ${why}`);
  }
  return ok('self-test', `as the agent user, "${localUser}" gets ${lines} key line(s)`);
}

export async function runDoctor(deps: DoctorDeps): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let config: AgentConfig | undefined;
  try {
    config = deps.loadConfig(deps.configPath);
    results.push(ok('config', `${deps.configPath} parses (bucket ${config.bucket})`));
    results.push(evaluateEndpoints(config, deps.env ?? process.env));
  } catch (e) {
    results.push(fail('config', errorMessage(e)));
  }

  if (config) {
    try {
      const id = await deps.credentials(config);
      // Only the key id's last characters: enough to tell identities apart, nothing to reuse.
      results.push(ok('credentials', `resolved (access key …${id.slice(-4)})`));
    } catch (e) {
      results.push(fail('credentials', errorMessage(e)));
    }
    results.push(...(await bucketChecks(config, deps)));
  }

  const { result: T, note } = await runSshd(deps.sshdBinary, ['-T', '-f', deps.sshdConfig], deps);
  if (note) results.push(ok('sshd runtime dir', note));
  if (T.code !== 0) results.push(fail('sshd', `sshd -T failed: ${T.stderr.trim() || `exit ${T.code}`}`));
  else results.push(evaluateSshdT(T.stdout, agentCommandLine(deps.binPath, deps.configPath), deps.agentUser));

  results.push(
    evaluateBinary(deps.binPath, launcherOf(await deps.readBytes(deps.binPath)), deps.stat, deps.realpath),
  );

  if (config && deps.agentUserActivity) {
    // Before the self-test and the audit check, which run processes as the agent user themselves.
    const uid = await deps.userUid(deps.agentUser);
    if (uid !== undefined) {
      const activity = await deps.agentUserActivity(uid, config.cache.dir);
      const programs = deps.sshdPrograms?.(config) ?? new Set<string>();
      results.push(evaluateAgentUser(deps.agentUser, uid, activity, programs));
    }
  }

  if (config) {
    // The whole login path as sshd runs it: catches an unreadable config, missing interpreter, no credentials for that user.
    const localUser = Object.keys(config.users)[0];
    if (localUser) {
      const args =
        deps.configPath === DEFAULT_CONFIG_PATH ? [localUser] : ['--config', deps.configPath, localUser];
      results.push(evaluateSelfTest(localUser, await deps.runAsAgent(args)));
    }
    // The login path hands audit lines to logger without waiting for it: this is where a broken channel shows.
    try {
      await deps.auditCheck(config);
      results.push(ok('audit', `logger wrote a test line to ${config.syslogSocket} as ${deps.agentUser}`));
    } catch (e) {
      results.push(fail('audit', `${errorMessage(e)}: logins are not audited`));
    }
    const uid = await deps.userUid(deps.agentUser);
    if (uid === undefined) results.push(fail('cache dir', `agent user ${deps.agentUser} does not exist`));
    else results.push(evaluateCacheDir(config.cache.dir, deps.stat(config.cache.dir), uid));
  }
  return results;
}
