// Where `sessions` gets its open logins and puts its `ended` records: the
// login trail that ship-audit ships (admin/audit), from the same log source,
// state and outbox, so a session's login, logout and end are one story.
import type { AgentConfig } from '../../config.js';
import { type CollectDeps, collect, enqueue } from '../audit/collect.js';
import type { AuditConfig } from '../audit/config.js';
import { DEFAULT_SPOOL_MAX_BYTES } from '../audit/spool.js';
import { type AuditWiringOptions, collectDepsFor } from '../audit/wiring.js';
import type { SessionsDeps } from './run.js';

/** Where open logins come from and `ended` records go. */
export type Trail = Pick<SessionsDeps, 'openLogins' | 'record'>;

/** Without an audit section: sshd's log from the journal and the outbox at its default bound (ship-audit ships it once configured). */
export function loginTrail(
  config: AgentConfig,
  audit: AuditConfig | undefined,
  opts: AuditWiringOptions,
): Trail {
  const a: AuditConfig = audit ?? {
    bucket: '',
    source: 'journal',
    spoolMaxBytes: DEFAULT_SPOOL_MAX_BYTES,
  };
  let deps: Promise<CollectDeps> | undefined;
  const get = () => {
    deps ??= collectDepsFor(config, a, opts);
    return deps;
  };
  return {
    openLogins: async () => (await collect(await get())).open,
    record: async (records) => enqueue(await get(), records),
  };
}
