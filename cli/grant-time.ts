// Pure: `grant --for` (90m, 4h, 1h30m, 2d) and the grant's end as the publisher reads it
// (a UTC ISO 8601 time to the second, `2027-01-31T12:00:00Z`).
import { UsageError } from '../contract/errors.js';

const UNIT_SECONDS = { d: 86400, h: 3600, m: 60 } as const;
const DURATION = /^(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?$/;

/** `--for`: whole days, hours and minutes in that order (`90m`, `4h`, `1h30m`), more than 0; in seconds. */
export function parseGrantDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === '') {
    throw new UsageError(
      `--for ${JSON.stringify(text)}: expected a duration such as 90m, 4h or 1h30m (units d, h, m)`,
    );
  }
  const [d, h, min] = [m[1], m[2], m[3]].map((v) => Number(v ?? 0)) as [number, number, number];
  const seconds = d * UNIT_SECONDS.d + h * UNIT_SECONDS.h + min * UNIT_SECONDS.m;
  if (seconds === 0)
    throw new UsageError(`--for ${JSON.stringify(text)}: a grant must last at least 1 minute`);
  return seconds;
}

/** 5400 -> "1 h 30 min", 14400 -> "4 h", 90 -> "1 min" (whole minutes). */
export function grantLength(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  const [h, m] = [Math.floor(minutes / 60), minutes % 60];
  return [h ? `${h} h` : '', m || !h ? `${m} min` : ''].filter((p) => p !== '').join(' ');
}

/** Refuses a grant longer than the maximum the publisher accepts (it would be refused there). */
export function checkGrantLength(seconds: number, maxGrantHours: number, text: string): void {
  if (seconds > maxGrantHours * 3600) {
    throw new UsageError(
      `refusing --for ${text} (${grantLength(seconds)}): longer than the maximum grant of ${maxGrantHours} h ` +
        '(--max-grant-hours N, as the stack sets maxGrantHours; the publisher refuses longer grants)',
    );
  }
}

/** The grant's end: now + the length, down to the whole second (never longer than asked), in UTC. */
export function grantEnd(now: Date, seconds: number): string {
  const end = new Date(Math.floor(now.getTime() / 1000) * 1000 + seconds * 1000);
  return `${end.toISOString().slice(0, 19)}Z`;
}
