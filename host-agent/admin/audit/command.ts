// `iam-authorized-keys ship-audit`: collect new login records, then upload
// the outbox. Run every minute by iam-authorized-keys-ship-audit.timer, or by hand.
import { parseArgs } from 'node:util';
import { errorMessage } from '../../../contract/errors.js';
import { UsageError } from '../../errors.js';
import { loadAdminConfig } from '../config.js';
import { SHIP_AUDIT_OPTIONS } from '../options.js';
import { collect } from './collect.js';
import { ship } from './ship.js';
import { loadState, segments } from './spool.js';
import { collectDepsFor, shipDepsFor } from './wiring.js';

export async function shipAuditCommand(
  args: string[],
  out: (l: string) => void,
  err: (l: string) => void,
): Promise<number> {
  const { values } = parseArgs({ args, options: SHIP_AUDIT_OPTIONS, strict: true, allowPositionals: false });
  if (process.getuid?.() !== 0) throw new UsageError('ship-audit must run as root');
  const config = loadAdminConfig(values.config);
  const audit = config.audit;
  if (!audit) throw new UsageError(`${values.config} has no "audit" section: nothing to ship`);
  const stateDir = values['state-dir'];
  const deps = await collectDepsFor(config, audit, {
    stateDir,
    ...(values['agent-user'] !== undefined ? { agentUser: values['agent-user'] } : {}),
  });
  // A log that cannot be read this time does not hold back what the outbox already has.
  let collected: string | undefined;
  try {
    collected = `${(await collect(deps)).open.length} sessions open`;
  } catch (e) {
    err(`ship-audit: no new records read: ${errorMessage(e)}`);
  }
  try {
    const r = await ship(shipDepsFor(config, audit, stateDir));
    out(
      `ship-audit: ${r.records} records in ${r.objects} objects to s3://${audit.bucket}` +
        `${r.alreadyThere > 0 ? ` (${r.alreadyThere} already there from an earlier run)` : ''}` +
        `${collected ? `; ${collected}` : ''}`,
    );
    return collected ? 0 : 1;
  } catch (e) {
    const waiting = (await segments(stateDir)).length;
    const s = await loadState(stateDir);
    err(
      `ship-audit: upload failed, ${waiting} outbox files kept for the next run` +
        `${s.droppedTotal > s.droppedShipped ? ` (${s.droppedTotal - s.droppedShipped} records dropped for audit.spoolMaxBytes)` : ''}: ${errorMessage(e)}`,
    );
    return 1;
  }
}
