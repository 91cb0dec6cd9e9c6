// Pure: index.json (+ the publisher's progress.json) + clock -> what `iam-ssh-keys status`
// prints: what an operator checks first. Fetching is in status.ts.
import { EXPIRED_REASON, own, type PublishedIndex, validateKey } from '../contract/index.js';
import { DEFAULT_EXPIRING_WITHIN_DAYS } from '../contract/publisher-settings.js';
import { ProgressFormatError, parseProgress } from '../lambda/progress.js';

/** RSA keys under this many bits are flagged (NIST SP 800-57: 2048-bit RSA is for use through 2030). */
export const WEAK_RSA_BITS = 3072;

/** Exit codes of `status`: documented in docs/cli-status.md. */
export const STATUS_EXIT = { ok: 0, stale: 1, firstImport: 3 } as const;

/** `<prefix>publisher/progress.json`, written by a publisher run that saves its progress. */
export interface Progress {
  readonly startedAt: string;
  readonly savedAt: string;
  readonly usersTotal?: number;
  readonly usersRead?: number;
  readonly keyBodiesFetched?: number;
}

/**
 * progress.json as `status` shows it: read with the publisher's own parser, so a file the
 * publisher would not resume from (it starts over) is not shown either.
 */
export function progressOf(text: string | undefined): Progress | undefined {
  if (text === undefined) return undefined;
  try {
    const p = parseProgress(text);
    return {
      startedAt: p.startedAt,
      savedAt: p.savedAt,
      usersTotal: p.usersTotal,
      usersRead: p.usersRead,
      keyBodiesFetched: p.keyBodiesFetched,
    };
  } catch (e) {
    if (e instanceof ProgressFormatError) return undefined;
    throw e;
  }
}

export interface StatusReport {
  readonly ok: boolean;
  readonly exitCode: number;
  readonly ageSeconds?: number;
  readonly lines: readonly string[];
  readonly data: Record<string, unknown>;
}

/** 75 -> "1 min 15 s", 7300 -> "2 h 1 min", 200000 -> "2 d 7 h". */
export function humanAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400)
    return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

const secondsSince = (iso: string, now: Date) =>
  Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));

function progressData(p: Progress, now: Date): Record<string, unknown> {
  return { ...p, savedSecondsAgo: secondsSince(p.savedAt, now) };
}

function progressLine(p: Progress, now: Date): string {
  const users =
    p.usersRead !== undefined
      ? `${p.usersRead}${p.usersTotal !== undefined ? `/${p.usersTotal}` : ''} users read`
      : '';
  const bodies = p.keyBodiesFetched !== undefined ? `${p.keyBodiesFetched} key bodies fetched` : '';
  const figures = [users, bodies].filter(Boolean).join(', ');
  return `started ${p.startedAt}${figures ? `, ${figures}` : ''}, progress saved ${humanAge(secondsSince(p.savedAt, now))} ago`;
}

/** No index.json yet, and a publisher run is saving its progress: the first import. */
export function firstImportReport(progress: Progress, now: Date, location: string): StatusReport {
  return {
    ok: false,
    exitCode: STATUS_EXIT.firstImport,
    lines: [
      `no ${location} yet: first import in progress (${progressLine(progress, now)})`,
      'hosts have nothing to serve until it finishes',
    ],
    data: { state: 'first-import-in-progress', progress: progressData(progress, now) },
  };
}

/** Keys from IAM user tags carry the tag's key (`tagKey`); read loosely, older indexes have none. */
const tagOf = (k: object): string | undefined => {
  const t = (k as { tagKey?: unknown }).tagKey;
  return typeof t === 'string' ? t : undefined;
};
/** Named only when the id does not already say it (ids of tag keys are `tag:<tag key>`). */
const tagNote = (k: { id: string }) => {
  const t = tagOf(k);
  return t !== undefined && k.id !== `tag:${t}` ? ` (tag ${t})` : '';
};

/** Shows at most `max` names, then how many more. */
function listed(names: readonly string[], max = 20): string {
  return names.length > max
    ? `${names.slice(0, max).join(', ')} and ${names.length - max} more`
    : names.join(', ');
}

type IndexUsers = [string, PublishedIndex['users'][string]][];

function rejectedKeys(users: IndexUsers) {
  return users.flatMap(([name, u]) =>
    (u.rejectedKeys ?? []).map((r) => ({
      user: name,
      id: r.id,
      reason: r.reason,
      ...(r.fingerprint ? { fingerprint: r.fingerprint } : {}),
      ...(tagOf(r) ? { tagKey: tagOf(r) } : {}),
    })),
  );
}

/** RSA keys under WEAK_RSA_BITS, measured from their published bodies. */
function weakRsaKeys(index: PublishedIndex, users: IndexUsers) {
  return users.flatMap(([name, u]) =>
    u.keys
      .filter((k) => k.type === 'ssh-rsa')
      .flatMap((k) => {
        const [type = '', blob = ''] = (own(index.keyBodies, k.id) ?? '').split(' ');
        const v = validateKey(type, blob);
        return v.ok && v.key.bits < WEAK_RSA_BITS
          ? [
              {
                user: name,
                id: k.id,
                bits: v.key.bits,
                fingerprint: k.fingerprint,
                ...(tagOf(k) ? { tagKey: tagOf(k) } : {}),
              },
            ]
          : [];
      }),
  );
}

/** A published key that expires within the horizon (key lifecycle): owner, key, date. */
export interface ExpiringKey {
  readonly user: string;
  readonly id: string;
  readonly fingerprint: string;
  readonly expires: string;
  readonly tagKey?: string;
}

/** Published keys whose expiry is within `withinDays` of now, soonest first (then user, key id). */
export function expiringKeys(index: PublishedIndex, now: Date, withinDays: number): ExpiringKey[] {
  const horizon = now.getTime() + withinDays * 86_400_000;
  const out: ExpiringKey[] = [];
  for (const [user, u] of Object.entries(index.users)) {
    for (const k of u.keys) {
      if (k.expires === undefined || Date.parse(k.expires) > horizon) continue;
      out.push({
        user,
        id: k.id,
        fingerprint: k.fingerprint,
        expires: k.expires,
        ...(k.tagKey ? { tagKey: k.tagKey } : {}),
      });
    }
  }
  const by = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return out.sort((a, b) => by(a.expires, b.expires) || by(a.user, b.user) || by(a.id, b.id));
}

/**
 * The key lifecycle part of status: keys expiring soon, keys refused as expired (among the rejected
 * keys already), refused grants, and keys a verify-required group leaves out.
 */
export function lifecycleReport(
  index: PublishedIndex,
  now: Date,
  withinDays: number,
): { lines: string[]; data: Record<string, unknown> } {
  const expiring = expiringKeys(index, now, withinDays);
  const grants = index.grants ?? [];
  const refused = grants.filter((g) => g.status === 'refused');
  const omitted = Object.entries(index.groups).flatMap(([group, g]) =>
    (g.omittedKeys ?? []).map((k) => ({ group, ...k })),
  );
  const expired = Object.values(index.users).reduce(
    (n, u) => n + (u.rejectedKeys ?? []).filter((r) => r.reason === EXPIRED_REASON).length,
    0,
  );
  const lines = [
    ...(expiring.length || expired
      ? [`keys expiring within ${withinDays} d: ${expiring.length}  expired keys: ${expired}`]
      : []),
    ...expiring.map((k) => `expires ${k.expires}: ${k.id} of ${k.user}${tagNote(k)} (${k.fingerprint})`),
    ...grants
      .filter((g) => g.status === 'active')
      .map((g) => `grant: ${g.iamUser} -> ${g.group} until ${g.until}`),
    ...refused.map(
      (g) =>
        `refused grant: ${g.iamUser} -> ${g.group} (tag ${g.tagKey} = ${JSON.stringify(g.value)}): ${g.reason}`,
    ),
    ...omitted.map((k) => `left out of group ${k.group}: ${k.id} of ${k.user}: ${k.reason}`),
  ];
  return {
    lines,
    data: {
      expiringWithinDays: withinDays,
      expiringKeys: expiring,
      expiredKeys: expired,
      grants,
      keysLeftOutOfGroups: omitted,
    },
  };
}

export function statusReport(
  index: PublishedIndex,
  now: Date,
  maxAgeSeconds: number,
  progress?: Progress,
  expiringWithinDays: number = DEFAULT_EXPIRING_WITHIN_DAYS,
): StatusReport {
  const lifecycle = lifecycleReport(index, now, expiringWithinDays);
  const ageSeconds = secondsSince(index.generatedAt, now);
  const users = Object.entries(index.users);
  const keys = users.reduce((n, [, u]) => n + u.keys.length, 0);
  // Keys from user tags (docs/architecture.md "Keys from IAM user tags"): ids `tag:<tag key>`.
  const tagKeys = users.reduce((n, [, u]) => n + u.keys.filter((k) => k.tagKey !== undefined).length, 0);
  const rejected = rejectedKeys(users);
  // A refused key with a fingerprint is a valid key: refused because another user holds it.
  const copied = rejected.filter((r) => r.fingerprint !== undefined && r.reason !== EXPIRED_REASON);
  const refusedBodies = rejected.filter((r) => r.fingerprint === undefined || r.reason === EXPIRED_REASON);
  const noLocal = users
    .filter(([, u]) => u.localName === null)
    .map(([name, u]) => ({ user: name, reason: u.localNameProblem ?? '' }));
  const withoutKeys = users.filter(([, u]) => u.keys.length === 0).map(([name]) => name);
  const weakRsa = weakRsaKeys(index, users);
  const ok = ageSeconds <= maxAgeSeconds;
  const lines = [
    `last publish: ${index.generatedAt} (${humanAge(ageSeconds)} ago)${ok ? '' : ` STALE: older than ${humanAge(maxAgeSeconds)} (--max-age ${maxAgeSeconds})`}`,
    ...(progress ? [`a resumed publisher run is in progress: ${progressLine(progress, now)}`] : []),
    `users: ${users.length}  groups: ${Object.keys(index.groups).length}  keys: ${keys}  rejected keys: ${rejected.length}  keys from tags: ${tagKeys}`,
    ...refusedBodies.map((r) => `rejected key ${r.id} of ${r.user}${tagNote(r)}: ${r.reason}`),
    ...copied.map(
      (r) => `rejected key ${r.id} of ${r.user}${tagNote(r)} (copied key ${r.fingerprint}): ${r.reason}`,
    ),
    ...(withoutKeys.length ? [`users without keys (${withoutKeys.length}): ${listed(withoutKeys)}`] : []),
    ...weakRsa.map(
      (k) =>
        `RSA key under ${WEAK_RSA_BITS} bits: ${k.id} of ${k.user}${tagNote(k)}: ${k.bits} bits (${k.fingerprint})`,
    ),
    ...noLocal.map((r) => `no local name for ${r.user}: ${r.reason}`),
    ...lifecycle.lines,
  ];
  return {
    ok,
    exitCode: ok ? STATUS_EXIT.ok : STATUS_EXIT.stale,
    ageSeconds,
    lines,
    data: {
      state: ok ? 'ok' : 'stale',
      generatedAt: index.generatedAt,
      ageSeconds,
      maxAgeSeconds,
      stale: !ok,
      users: users.length,
      groups: Object.keys(index.groups).length,
      keys,
      tagKeys,
      rejectedKeys: rejected,
      copiedKeyRefusals: copied,
      usersWithoutKeys: withoutKeys,
      weakRsaKeys: weakRsa,
      usersWithoutLocalName: noLocal,
      progress: progress ? progressData(progress, now) : null,
      ...lifecycle.data,
    },
  };
}
