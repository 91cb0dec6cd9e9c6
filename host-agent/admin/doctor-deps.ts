// doctor's edges on a real host: credentials and S3 as the agent resolves them,
// the agent user's view (/proc, find, getent) and the privilege drop that runs
// the self-test and the audit check as sshd would run the agent.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startSyslogAuditor } from '../audit.js';
import { createCredentialProvider, readFileOrUndefined } from '../credentials.js';
import { fipsStsDeps } from '../fips.js';
import { request } from '../http-client.js';
import { parsePasswd } from '../passwd.js';
import { loadAdminConfig } from './config.js';
import type { DoctorDeps } from './doctor.js';
import type { InstallPaths } from './install/plan.js';
import { findOwnedFile, lookupUser, processesOf, realRunner, realSystemFs } from './sys.js';

const SETPRIV = '/usr/bin/setpriv';

/** The agent user's home (getent, so NSS users count), or undefined. */
async function homeOf(agentUser: string): Promise<string | undefined> {
  return parsePasswd((await realRunner('getent', ['passwd', agentUser])).stdout)[0]?.home;
}

/** doctor's view of the agent user: what runs as it and what it owns (/proc, find), and sshd's own commands. */
function agentUserDeps(
  agentUser: string,
  binPath: string,
  realpath: (p: string) => string | undefined,
): Pick<DoctorDeps, 'agentUserActivity' | 'sshdPrograms'> {
  return {
    async agentUserActivity(uid, cacheDir) {
      const home = (await homeOf(agentUser))?.trim();
      // Its own home counts as its own, unless that is / or a top-level directory (which would hide too much).
      const ownHome = home && home.split('/').filter(Boolean).length >= 2 ? [home] : [];
      return {
        processes: await processesOf(uid),
        ownedFile: await findOwnedFile(realRunner, uid, [cacheDir, ...ownHome]),
      };
    },
    sshdPrograms(config) {
      const both = (p: string) => [p, realpath(p) ?? p];
      return new Set([
        ...both(binPath),
        ...(config.chain?.[0] ? both(config.chain[0]) : []),
        // The audit's hand-off: timeout -s KILL 2 logger ...
        ...['/usr/bin/timeout', '/bin/timeout', '/usr/bin/logger', '/bin/logger'].flatMap(both),
      ]);
    },
  };
}

/** The checks that run as the agent user: the audit channel and the installed binary itself. */
function asAgentDeps(agentUser: string, binPath: string): Pick<DoctorDeps, 'auditCheck' | 'runAsAgent'> {
  return {
    async auditCheck(config) {
      const ids = await lookupUser(realRunner, agentUser);
      if (!ids) throw new Error(`agent user ${agentUser} does not exist`);
      const env = { PATH: '/usr/bin:/bin' };
      // As sshd runs the agent: that user with its supplementary groups (initgroups), which
      // node's uid/gid options would drop; without setpriv, node's own switch is the fallback.
      const auditor = startSyslogAuditor(config.syslogSocket, (cmd, a, o) =>
        existsSync(SETPRIV)
          ? spawn(SETPRIV, [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups', '--', cmd, ...a], {
              ...o,
              env,
            })
          : spawn(cmd, a, { ...o, uid: ids.uid, gid: ids.gid, env }),
      );
      await auditor.sendChecked(['doctor: audit channel check']);
    },
    async runAsAgent(cmdArgs) {
      const ids = await lookupUser(realRunner, agentUser);
      if (!ids) return { code: 127, stdout: '', stderr: `agent user ${agentUser} does not exist` };
      const home = (await homeOf(agentUser)) ?? '/';
      const r = spawnSync(binPath, [...cmdArgs], {
        uid: ids.uid,
        gid: ids.gid,
        // As sshd runs the command: nothing but these.
        env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: home, USER: agentUser, LOGNAME: agentUser },
        encoding: 'utf8',
        timeout: 15_000,
      });
      return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr || (r.error?.message ?? '') };
    },
  };
}

/** Credentials and objects the way the agent gets them, with warnings kept off doctor's output. */
function awsDeps(): Pick<DoctorDeps, 'credentials' | 'readObject'> {
  const quiet = () => {};
  return {
    async credentials(config) {
      const provider = createCredentialProvider(
        { region: config.region, ...(config.roleArn ? { roleArn: config.roleArn } : {}) },
        {
          env: process.env,
          http: request,
          now: Date.now,
          readFile: readFileOrUndefined,
          warn: quiet,
          ...fipsStsDeps(config, process.env),
        },
      );
      return (await provider()).accessKeyId;
    },
    async readObject(config, key) {
      const { createS3Fetcher } = await import('../s3-fetch.js');
      const res = await createS3Fetcher(config, { env: process.env, warn: quiet, now: Date.now }).get(
        key,
        {},
      );
      return res.status === 200 ? res.body : undefined;
    },
  };
}

/** Everything runDoctor needs on this host, for the paths and agent user install recorded (or given). */
export function realDoctorDeps(paths: InstallPaths, agentUser: string): DoctorDeps {
  const fsys = realSystemFs(realRunner);
  return {
    configPath: paths.configPath,
    binPath: paths.binPath,
    sshdBinary: paths.sshdBinary,
    sshdConfig: paths.sshdConfig,
    agentUser,
    loadConfig: loadAdminConfig,
    ...awsDeps(),
    run: realRunner,
    createRuntimeDir: fsys.createRuntimeDir,
    stat: fsys.stat,
    realpath: fsys.realpath,
    readBytes: fsys.readBytes,
    userUid: async (u) => (await lookupUser(realRunner, u))?.uid,
    ...agentUserDeps(agentUser, paths.binPath, fsys.realpath),
    now: Date.now,
    ...asAgentDeps(agentUser, paths.binPath),
  };
}
