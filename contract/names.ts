// IAM user name <-> local user name, compatible with aws-ec2-ssh.
import { allIn, CLASS } from './charset.js';

/** Longest local user name (useradd's and utmp's limit, as in aws-ec2-ssh). */
export const MAX_LOCAL_NAME = 32;

/**
 * What a local user name may look like on a host: checked before it touches a path, an object key or a log.
 * isLocalNameShape checks it as a loop (every login checks its user: contract/charset.ts).
 */
export const LOCAL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

/** LOCAL_NAME, as a loop. */
export function isLocalNameShape(name: string): boolean {
  const n = name.length;
  return (
    n >= 1 && n <= MAX_LOCAL_NAME && allIn(name, CLASS.localFirst, 0, 1) && allIn(name, CLASS.localRest, 1)
  );
}

/** /^[0-9]+$/: a name useradd would take for a uid. */
function isAllDigits(name: string): boolean {
  return name.length > 0 && allIn(name, CLASS.digit);
}

export type LocalNameResult =
  | { readonly ok: true; readonly name: string }
  | { readonly ok: false; readonly reason: string };

/** `+` -> `.plus.`, `=` -> `.equal.`, `,` -> `.comma.`, `@` -> `.at.`; over 32 characters is unusable. */
export function iamToLocalName(iamName: string): LocalNameResult {
  const name = iamName
    .replaceAll('+', '.plus.')
    .replaceAll('=', '.equal.')
    .replaceAll(',', '.comma.')
    .replaceAll('@', '.at.');
  if (name.length > MAX_LOCAL_NAME) {
    return { ok: false, reason: `local name ${name} is longer than ${MAX_LOCAL_NAME} characters` };
  }
  if (!isLocalNameShape(name) || isAllDigits(name)) {
    return { ok: false, reason: `local name ${name} is not a valid user name` };
  }
  return { ok: true, name };
}

export function isValidLocalName(name: string): boolean {
  return isLocalNameShape(name) && !isAllDigits(name);
}
