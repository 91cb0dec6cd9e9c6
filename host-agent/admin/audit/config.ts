// The config's "audit" section, read by ship-audit and sessions only: the
// login path accepts the key (host-agent/config.ts) and never parses it.
import { readFileSync } from 'node:fs';
import { isBucketName, isRegionName } from '../../../contract/aws-names.js';
import { isRecord } from '../../../contract/records.js';
import { type AgentConfig, ConfigError, loadConfig } from '../../config.js';
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

/** The "audit" section of a raw config, or undefined when there is none. Throws ConfigError naming the field. */
export function parseAuditConfig(raw: unknown, source: string): AuditConfig | undefined {
  if (raw === undefined) return undefined;
  const bad = (m: string): never => {
    throw new ConfigError(`${source}: audit.${m}`);
  };
  if (!isRecord(raw)) throw new ConfigError(`${source}: audit must be an object`);
  for (const k of Object.keys(raw)) {
    if (!(AUDIT_CONFIG_KEYS as readonly string[]).includes(k))
      throw new ConfigError(`${source}: audit: unknown setting ${JSON.stringify(k)}`);
  }
  const bucket = raw.bucket;
  if (typeof bucket !== 'string' || !isBucketName(bucket)) return bad('bucket must be a valid bucket name');
  const region = raw.region;
  if (region !== undefined && (typeof region !== 'string' || !isRegionName(region))) {
    return bad('region must be a region name');
  }
  const src = raw.source ?? 'journal';
  if (typeof src !== 'string' || (src !== 'journal' && (!src.startsWith('/') || src.includes('\0')))) {
    return bad('source must be "journal" or the absolute path of a log file');
  }
  const max = raw.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < MIN_SPOOL || max > MAX_SPOOL) {
    return bad(`spoolMaxBytes must be an integer from ${MIN_SPOOL} to ${MAX_SPOOL}`);
  }
  return { bucket, ...(region !== undefined ? { region } : {}), source: src, spoolMaxBytes: max };
}

/** The agent's config (checked as the login path checks it) and its audit section. */
export function loadWithAudit(path: string): { config: AgentConfig; audit: AuditConfig | undefined } {
  const config = loadConfig(path);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return { config, audit: parseAuditConfig(raw.audit, path) };
}
