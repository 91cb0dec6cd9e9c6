// A cached object's derived form: its authorized_keys lines validated once, when
// they come from S3 (deriveObject), and re-checked without crypto when a cache
// hit reads them back (readDerived): what a hit prints comes from here.
import { allIamNameChars, iamNameShape, isPaddedBase64, isUnpaddedBase64 } from '../contract/charset.js';
import { BASE64, isSupportedKeyType, MAX_BLOB_BASE64 } from '../contract/keys.js';
import { IAM_USER_NAME, IAM_USER_NAME_MAX } from '../contract/layout.js';
import { expiryTimeMs, type KeyLine, type ParsedObject, parseObject } from '../contract/line.js';

/** sshd's %f with the default FingerprintHash sha256. */
export const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** FINGERPRINT, checked the way this runtime does it best (LINE_CHECKS). */
export function isFingerprint(s: string): boolean {
  return LINE_CHECKS.fingerprint(s);
}

/** Cached form of a ParsedObject: compact, and checked again (without crypto) when read back. */
export interface DerivedObject {
  /** 2: lines carry expiry-time and verify-required (entries of version 1 are parsed again). */
  v: 2;
  /** [owner, type, blob, fingerprint, bits, expiry-time or null, verify-required] */
  lines: [string, string, string, string, number, string | null, boolean][];
  rejected: [number, string][];
}

/**
 * StoreDeps.derive: validates an authorized_keys object once, when it comes
 * from S3, so that a cache hit needs neither validation nor SHA-256 (which
 * would load node:crypto, ~4 ms of every login). Other objects: nothing.
 */
export function deriveObject(key: string, body: Buffer): DerivedObject | undefined {
  if (!key.endsWith('/authorized_keys')) return undefined;
  const parsed = parseObject(body.toString('utf8'));
  return {
    v: 2,
    lines: parsed.lines.map((l) => [
      l.owner,
      l.key.type,
      l.key.blob,
      l.key.fingerprint,
      l.key.bits,
      l.expiryTime ?? null,
      l.verifyRequired === true,
    ]),
    rejected: parsed.rejected.map((r) => [r.lineNo, r.reason]),
  };
}

/**
 * Reads back what deriveObject stored. The cache is written only by the agent's
 * user, after validation, so the lines are trusted as validated; this still
 * re-checks every field that reaches the output against the line format, so a
 * damaged entry can never print an option, a newline or a foreign key type.
 * Anything off: undefined (the body is parsed again).
 */
export function readDerived(d: unknown, checks: LineChecks = LINE_CHECKS): ParsedObject | undefined {
  if (typeof d !== 'object' || d === null) return undefined;
  const { v, lines, rejected } = d as Partial<DerivedObject>;
  if (v !== 2 || !Array.isArray(lines) || !Array.isArray(rejected)) return undefined;
  const out: KeyLine[] = [];
  let owners = '';
  for (const l of lines) {
    const line = derivedLine(l, checks);
    if (!line) return undefined;
    owners += line.owner;
    out.push(line);
  }
  if (!checks.owners(owners)) return undefined;
  const rej: ParsedObject['rejected'][number][] = [];
  for (const r of rejected) {
    if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'string') return undefined;
    rej.push({ lineNo: r[0], reason: r[1] });
  }
  return { lines: out, rejected: rej };
}

/** How readDerived checks a cached line's owner, key blob and fingerprint. */
export interface LineChecks {
  readonly owner: (s: string) => boolean;
  /** All of an entry's owners, joined: what `owner` left to check once. */
  readonly owners: (joined: string) => boolean;
  readonly blob: (s: string) => boolean;
  readonly fingerprint: (s: string) => boolean;
}

/**
 * Under Bun: no regular expression (the first ones cost ~0.8 MiB, contract/charset.ts). The owners'
 * characters are checked once, all joined: a native call per check, not per line.
 */
export const NATIVE_LINE_CHECKS: LineChecks = {
  owner: (s) => iamNameShape(s, IAM_USER_NAME_MAX),
  owners: allIamNameChars,
  blob: isPaddedBase64,
  fingerprint: (s) => s.startsWith('SHA256:') && isUnpaddedBase64(s.slice(7), 43),
};

/** Under node: the patterns, which V8 runs fastest (3M instructions less than the native calls on 50 lines). */
export const PATTERN_LINE_CHECKS: LineChecks = {
  owner: (s) => IAM_USER_NAME.test(s),
  owners: () => true,
  blob: (s) => s.length % 4 === 0 && BASE64.test(s),
  fingerprint: (s) => FINGERPRINT.test(s),
};

/**
 * Whether this is Bun (the standalone agent). Under Bun atob is native, a key's ~70-700 characters in
 * one call. Node's walks a 69-entry array for each character (+2.6M instructions on a 50-key hit), a
 * loop is slower still in V8's interpreter (+9.7M), and V8 runs the patterns fastest: node keeps them,
 * and its memory is no target.
 */
const UNDER_BUN = (globalThis as { Bun?: unknown }).Bun !== undefined;
const LINE_CHECKS = UNDER_BUN ? NATIVE_LINE_CHECKS : PATTERN_LINE_CHECKS;

/** One stored line, every field re-checked (the owner's characters by `checks.owners`, once for all). */
function derivedLine(l: unknown, checks: LineChecks): KeyLine | undefined {
  if (!Array.isArray(l) || l.length !== 7) return undefined;
  // Indexes, not destructuring, and no spreads below: once per line at every login, and each is a
  // builtin call in JavaScriptCore's interpreter.
  const owner: unknown = l[0];
  const type: unknown = l[1];
  const blob: unknown = l[2];
  const fingerprint: unknown = l[3];
  const bits: unknown = l[4];
  const expiryTime: unknown = l[5];
  const verifyRequired: unknown = l[6];
  if (!validDerivedOptions(type, expiryTime, verifyRequired)) return undefined;
  if (
    typeof owner !== 'string' ||
    !checks.owner(owner) ||
    typeof type !== 'string' ||
    !isSupportedKeyType(type) ||
    typeof blob !== 'string' ||
    blob.length > MAX_BLOB_BASE64 ||
    !checks.blob(blob) ||
    typeof fingerprint !== 'string' ||
    !checks.fingerprint(fingerprint) ||
    !Number.isInteger(bits)
  ) {
    return undefined;
  }
  const line: { owner: string; key: KeyLine['key']; expiryTime?: string; verifyRequired?: boolean } = {
    owner,
    key: { type, blob, fingerprint, bits: bits as number },
  };
  if (typeof expiryTime === 'string') line.expiryTime = expiryTime;
  if (verifyRequired === true) line.verifyRequired = true;
  return line;
}

/** A derived line's options as parseLine would give them: an expiry-time of the line format, verify-required only on sk-*. */
function validDerivedOptions(type: unknown, expiryTime: unknown, verifyRequired: unknown): boolean {
  if (expiryTime !== null && (typeof expiryTime !== 'string' || expiryTimeMs(expiryTime) === undefined))
    return false;
  return (
    verifyRequired === false ||
    (verifyRequired === true && typeof type === 'string' && type.startsWith('sk-'))
  );
}
