// The authorized_keys line format (docs/architecture.md "Line format"), rendered by the
// publisher and strictly re-parsed by the host agent.

import { type KeyResult, type PublicKey, validateKey } from './keys.js';
import { IAM_USER_NAME } from './layout.js';

/** Longest line we render or accept: option + type + max blob + two 64-char names. */
export const MAX_LINE_LENGTH = 4400;

export interface KeyLine {
  readonly owner: string;
  readonly key: PublicKey;
}

export type LineResult =
  | { readonly ok: true; readonly line: KeyLine }
  | { readonly ok: false; readonly reason: string };

export function renderLine(owner: string, key: Pick<PublicKey, 'type' | 'blob'>): string {
  return `environment="SSH_KEY_OWNER=${owner}" ${key.type} ${key.blob} ${owner}\n`;
}

const LINE =
  /^environment="SSH_KEY_OWNER=([A-Za-z0-9+=,.@_-]{1,64})" ([a-z0-9@.-]{1,40}) ([A-Za-z0-9+/=]{1,4096}) ([A-Za-z0-9+=,.@_-]{1,64})$/;

/**
 * Parses one line (without its '\n') exactly as renderLine writes it. Anything
 * else (other options, command=, from=, CR, NUL, a second option, a comment
 * that is not the owner) is refused with a reason.
 */
export function parseLine(line: string): LineResult {
  if (line.length > MAX_LINE_LENGTH) return { ok: false, reason: 'line too long' };
  const m = LINE.exec(line);
  if (!m) return { ok: false, reason: 'line does not match the published format' };
  const [, owner = '', type = '', blob = '', comment = ''] = m;
  if (owner !== comment || !IAM_USER_NAME.test(owner)) {
    return { ok: false, reason: 'owner and comment differ' };
  }
  const k: KeyResult = validateKey(type, blob);
  if (!k.ok) return { ok: false, reason: k.reason };
  return { ok: true, line: { owner, key: k.key } };
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
