// The authorized_keys line format (docs/architecture.md "Line format"), rendered by the
// publisher and strictly re-parsed by the host agent.

import { allIn, CLASS } from './charset.js';
import { type KeyResult, type PublicKey, validateKey } from './keys.js';
import { IAM_USER_NAME } from './layout.js';

/** Longest line we render or accept: options + type + max blob + two 64-char names. */
export const MAX_LINE_LENGTH = 4440;

/**
 * The options a line may carry besides the owner (key lifecycle, docs/key-lifecycle.md):
 * `expiry-time` as written (14 digits, YYYYMMDDHHMMSS in UTC; a trailing `Z` is accepted on
 * parsing, never written: OpenSSH before 9.1 refuses it), `verify-required` on sk-* keys only.
 */
export interface LineOptions {
  readonly expiryTime?: string;
  readonly verifyRequired?: boolean;
}

export interface KeyLine extends LineOptions {
  readonly owner: string;
  readonly key: PublicKey;
}

export class LineOptionError extends Error {
  override name = 'LineOptionError';
}

/** The expiry-time form the publisher writes: UTC, second precision, no suffix (every supported sshd reads it). */
export function formatExpiryTime(t: Date): string {
  const iso = t.toISOString(); // 2027-01-31T12:00:00.000Z
  if (t.getUTCFullYear() < 1970 || t.getUTCFullYear() > 9999)
    throw new LineOptionError(`expiry time out of range: ${iso}`);
  return iso.slice(0, 19).replace(/[-T:]/g, '');
}

/** An expiry-time value: 14 digits (YYYYMMDDHHMMSS) and an optional Z; expiryTimeMs checks it without this. */
export const EXPIRY_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z?$/;

/**
 * The instant (ms since the epoch) an expiry-time value names, read as UTC; undefined when it is not
 * 14 digits (and an optional Z) naming a real calendar time.
 */
export function expiryTimeMs(value: string): number | undefined {
  // EXPIRY_TIME, without the regular expression: a cache hit runs none (contract/charset.ts).
  const digits = value.endsWith('Z') ? value.length - 1 : value.length;
  if (digits !== 14 || !allIn(value, CLASS.digit, 0, 14)) return undefined;
  const y = Number(value.slice(0, 4));
  const mo = Number(value.slice(4, 6));
  const d = Number(value.slice(6, 8));
  const h = Number(value.slice(8, 10));
  const mi = Number(value.slice(10, 12));
  const s = Number(value.slice(12, 14));
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const t = new Date(ms);
  // Date.UTC rolls 20270231 over into March: only a real calendar time round-trips.
  if (t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h || t.getUTCMinutes() !== mi)
    return undefined;
  if (s > 59 || y < 1970) return undefined;
  return ms;
}

/**
 * sshd's rule (auth-options.c auth_authorise_keyopts): a key is refused once its expiry time is
 * before the current second; during that second it still logs in.
 */
export function isExpired(expiryTime: string, nowMs: number): boolean {
  const ms = expiryTimeMs(expiryTime);
  return ms === undefined || Math.floor(nowMs / 1000) * 1000 > ms;
}

export type LineResult =
  | { readonly ok: true; readonly line: KeyLine }
  | { readonly ok: false; readonly reason: string };

/** Options in their one order: the owner first, then expiry-time, then verify-required. */
function renderOptions(owner: string, opts: LineOptions, type: string): string {
  let out = `environment="SSH_KEY_OWNER=${owner}"`;
  if (opts.expiryTime !== undefined) {
    if (expiryTimeMs(opts.expiryTime) === undefined)
      throw new LineOptionError(`invalid expiry-time ${JSON.stringify(opts.expiryTime)}`);
    out += `,expiry-time="${opts.expiryTime}"`;
  }
  if (opts.verifyRequired) {
    // sshd ignores verify-required on other keys: a line claiming it there would promise what it cannot keep.
    if (!type.startsWith('sk-')) throw new LineOptionError(`verify-required on a ${type} key`);
    out += ',verify-required';
  }
  return out;
}

export function renderLine(
  owner: string,
  key: Pick<PublicKey, 'type' | 'blob'>,
  opts: LineOptions = {},
): string {
  return `${renderOptions(owner, opts, key.type)} ${key.type} ${key.blob} ${owner}\n`;
}

const LINE =
  /^environment="SSH_KEY_OWNER=([A-Za-z0-9+=,.@_-]{1,64})"(?:,expiry-time="(\d{14}Z?)")?(,verify-required)? ([a-z0-9@.-]{1,40}) ([A-Za-z0-9+/=]{1,4096}) ([A-Za-z0-9+=,.@_-]{1,64})$/;

/**
 * Parses one line (without its '\n') exactly as renderLine writes it. Anything
 * else (other options, command=, from=, CR, NUL, a second option, a comment
 * that is not the owner) is refused with a reason.
 */
export function parseLine(line: string): LineResult {
  if (line.length > MAX_LINE_LENGTH) return { ok: false, reason: 'line too long' };
  const m = LINE.exec(line);
  if (!m) return { ok: false, reason: 'line does not match the published format' };
  const [, owner = '', expiryTime, verify, type = '', blob = '', comment = ''] = m;
  if (owner !== comment || !IAM_USER_NAME.test(owner)) {
    return { ok: false, reason: 'owner and comment differ' };
  }
  if (expiryTime !== undefined && expiryTimeMs(expiryTime) === undefined)
    return { ok: false, reason: 'expiry-time is not a calendar time' };
  if (verify !== undefined && !type.startsWith('sk-'))
    return { ok: false, reason: 'verify-required on a key that is not a FIDO (sk-*) key' };
  const k: KeyResult = validateKey(type, blob);
  if (!k.ok) return { ok: false, reason: k.reason };
  return {
    ok: true,
    line: {
      owner,
      key: k.key,
      ...(expiryTime !== undefined ? { expiryTime } : {}),
      ...(verify !== undefined ? { verifyRequired: true } : {}),
    },
  };
}

export interface ParsedObject {
  readonly lines: KeyLine[];
  readonly rejected: { readonly lineNo: number; readonly reason: string }[];
}

/**
 * Splits an authorized_keys object into validated lines. Empty lines are
 * skipped silently (an empty object is a user without keys); every other
 * invalid line is reported and dropped.
 */
export function parseObject(text: string): ParsedObject {
  const lines: KeyLine[] = [];
  const rejected: { lineNo: number; reason: string }[] = [];
  const parts = text.split('\n');
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i] as string;
    if (raw === '') continue;
    const r = parseLine(raw);
    if (r.ok) lines.push(r.line);
    else rejected.push({ lineNo: i + 1, reason: r.reason });
  }
  return { lines, rejected };
}
