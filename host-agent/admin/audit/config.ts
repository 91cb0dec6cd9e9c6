// The config's "audit" section (an admin-only section: the login parser
// accepts the key, host-agent/admin/config.ts has this parse it), read by
// ship-audit and sessions.
import { isBucketName, isRegionName } from '../../../contract/aws-names.js';
import { isRecord } from '../../../contract/records.js';
import type { ConfigFields } from '../../config.js';
import { DEFAULT_SPOOL_MAX_BYTES } from './spool.js';

export const AUDIT_CONFIG_KEYS = ['bucket', 'region', 'source', 'spoolMaxBytes'] as const;

export interface AuditConfig {
  readonly bucket: string;
  /** The audit bucket's region; absent: the config's `region`. */
  readonly region?: string;
  /** `journal`, or the absolute path of a syslog file (auth.log, /var/log/secure). */
  readonly source: string;
  readonly spoolMaxBytes: number;
}

const MIN_SPOOL = 64 * 1024;
const MAX_SPOOL = 1024 * 1024 * 1024;

/** Parses `audit`, applying its defaults; a mistake is a ConfigError naming the field. */
export function parseAuditConfig(raw: unknown, f: ConfigFields): AuditConfig {
  const { bad } = f;
  if (!isRecord(raw)) return bad('audit must be an object');
  for (const k of Object.keys(raw)) {
    if (!(AUDIT_CONFIG_KEYS as readonly string[]).includes(k))
      bad(`audit: unknown setting ${JSON.stringify(k)}`);
  }
  const bucket = raw.bucket;
  if (typeof bucket !== 'string' || !isBucketName(bucket))
    return bad('audit.bucket must be a valid bucket name');
  const region = raw.region;
  if (region !== undefined && (typeof region !== 'string' || !isRegionName(region))) {
    return bad('audit.region must be a region name');
  }
  const src = raw.source ?? 'journal';
  if (typeof src !== 'string' || (src !== 'journal' && (!src.startsWith('/') || src.includes('\0')))) {
    return bad('audit.source must be "journal" or the absolute path of a log file');
  }
  const spoolMaxBytes = f.int(
    raw.spoolMaxBytes,
    'audit.spoolMaxBytes',
    DEFAULT_SPOOL_MAX_BYTES,
    MIN_SPOOL,
    MAX_SPOOL,
  );
  return { bucket, ...(region !== undefined ? { region } : {}), source: src, spoolMaxBytes };
}
