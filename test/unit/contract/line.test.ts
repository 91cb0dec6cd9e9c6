import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expiryTimeMs,
  formatExpiryTime,
  isExpired,
  LineOptionError,
  type LineOptions,
  parseLine,
  parseObject,
  renderLine,
} from '../../../contract/line.js';
import { makeKey, makeSkKey } from '../../../dev/keys.js';

const key = makeKey('ed25519');
const good = renderLine('bob+ops@example.com', key).slice(0, -1);

describe('renderLine / parseLine', () => {
  it('renders the contract format and parses it back', () => {
    expect(renderLine('alice', key)).toBe(
      `environment="SSH_KEY_OWNER=alice" ${key.type} ${key.blob} alice\n`,
    );
    const r = parseLine(good);
    expect(r.ok && r.line.owner).toBe('bob+ops@example.com');
    expect(r.ok && r.line.key.fingerprint).toBe(key.fingerprint);
  });

  it.each([
    ['command= injection', `command="/bin/sh",${good}`],
    ['from= after the option', good.replace('" ssh-', '",from="*" ssh-')],
    ['a second option', good.replace('environment=', 'no-pty,environment=')],
    ['CR at the end', `${good}\r`],
    ['NUL inside', good.replace('ssh-', 'ssh\0-')],
    ['owner differs from comment', good.replace(/ bob\+ops@example\.com$/, ' mallory')],
    ['quote in owner', good.replace('SSH_KEY_OWNER=bob', 'SSH_KEY_OWNER=b"ob')],
    ['no option', `${key.type} ${key.blob} alice`],
    ['blob of another type', `environment="SSH_KEY_OWNER=a" ssh-rsa ${key.blob} a`],
    ['too long', `environment="SSH_KEY_OWNER=a" ssh-ed25519 ${'A'.repeat(5000)} a`],
    ['two spaces', good.replace(' ssh-', '  ssh-')],
  ])('refuses %s', (_n, line) => {
    expect(parseLine(line).ok).toBe(false);
  });

  // sshd's FIDO policy (touch, PIN) stays sshd's: no line may carry an option that relaxes it.
  const skLine = renderLine('alice', makeSkKey('ed25519')).slice(0, -1);
  it.each([
    ['served as it is', skLine, true],
    ['no-touch-required refused', skLine.replace('environment=', 'no-touch-required,environment='), false],
    ['verify-required before the owner refused', `verify-required,${skLine}`, false],
    ['verify-required after the owner served', skLine.replace('" sk-', '",verify-required sk-'), true],
    [
      'verify-required twice refused',
      skLine.replace('" sk-', '",verify-required,verify-required sk-'),
      false,
    ],
  ])('an sk-* line: %s', (_n, line, ok) => {
    expect(parseLine(line).ok).toBe(ok);
  });

  const sk = makeSkKey('ed25519');
  it.each([
    [
      'owner, expiry-time',
      key,
      { expiryTime: '20270131120000' },
      `environment="SSH_KEY_OWNER=alice",expiry-time="20270131120000" ${key.type} ${key.blob} alice\n`,
    ],
    [
      'owner, expiry-time, verify-required',
      sk,
      { expiryTime: '20270131120000', verifyRequired: true },
      `environment="SSH_KEY_OWNER=alice",expiry-time="20270131120000",verify-required ${sk.type} ${sk.blob} alice\n`,
    ],
    [
      'owner, verify-required',
      sk,
      { verifyRequired: true },
      `environment="SSH_KEY_OWNER=alice",verify-required ${sk.type} ${sk.blob} alice\n`,
    ],
  ] as [string, typeof key, LineOptions, string][])(
    'renders options in their one order: %s, and parses them back',
    (_n, k, opts, text) => {
      expect(renderLine('alice', k, opts)).toBe(text);
      const r = parseLine(text.slice(0, -1));
      expect(r.ok && { e: r.line.expiryTime, v: r.line.verifyRequired }).toEqual({
        e: opts.expiryTime,
        v: opts.verifyRequired,
      });
    },
  );

  it('never renders verify-required on a key that is not sk-*, nor an invalid expiry-time', () => {
    expect(() => renderLine('alice', key, { verifyRequired: true })).toThrow(LineOptionError);
    expect(() => renderLine('alice', key, { expiryTime: '2027-01-31' })).toThrow(LineOptionError);
  });

  const withExpiry = (t: string) => good.replace('" ssh-', `",expiry-time="${t}" ssh-`);
  it.each([
    ['14 digits', withExpiry('20270131120000'), true],
    ['14 digits and Z', withExpiry('20270131120000Z'), true],
    ['12 digits (sshd reads them, the publisher never writes them)', withExpiry('202701311200'), false],
    ['8 digits', withExpiry('20270131'), false],
    ['a UTC suffix', withExpiry('20270131120000UTC'), false],
    ['lower-case z', withExpiry('20270131120000z'), false],
    ['February 31st', withExpiry('20270231120000'), false],
    ['hour 24', withExpiry('20270131240000'), false],
    ['second 60', withExpiry('20270131235960'), false],
    ['expiry-time before the owner', `expiry-time="20270131120000",${good}`, false],
    [
      'verify-required before expiry-time',
      good
        .replace('" ssh-', '",verify-required,expiry-time="20270131120000" ssh-')
        .replace(key.type, sk.type)
        .replace(key.blob, sk.blob),
      false,
    ],
    ['verify-required on ssh-ed25519', good.replace('" ssh-', '",verify-required ssh-'), false],
    ['expiry-time unquoted', good.replace('" ssh-', '",expiry-time=20270131120000 ssh-'), false],
    [
      'expiry-time twice',
      good.replace('" ssh-', '",expiry-time="20270131120000",expiry-time="20280131120000" ssh-'),
      false,
    ],
  ])('expiry-time / verify-required: %s', (_n, line, ok) => {
    expect(parseLine(line).ok).toBe(ok);
  });

  it.each([
    ['2027-01-31T12:00:00.999Z', '20270131120000'],
    ['1970-01-01T00:00:00.000Z', '19700101000000'],
    ['2099-12-31T23:59:59.000Z', '20991231235959'],
  ])('formatExpiryTime(%s) is %s (UTC, whole seconds, rounded down) and reads back', (iso, text) => {
    expect(formatExpiryTime(new Date(iso))).toBe(text);
    expect(expiryTimeMs(text)).toBe(Math.floor(Date.parse(iso) / 1000) * 1000);
  });

  // sshd: refused once the expiry second is before the current second (auth_authorise_keyopts).
  const at = Date.parse('2027-01-31T12:00:00Z');
  it.each([
    ['a second before', at - 1000, false],
    ['at the second', at, false],
    ['late in the same second', at + 999, false],
    ['the next second', at + 1000, true],
  ])('isExpired %s', (_n, now, expired) => {
    expect(isExpired('20270131120000', now)).toBe(expired);
    expect(isExpired('20270131120000Z', now)).toBe(expired);
  });

  it('property: whatever parses re-renders to exactly the same line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 20 }), (junk, owner) => {
        for (const candidate of [
          junk,
          `${good}${junk}`,
          `${junk}${good}`,
          good.replace('bob+ops@example.com', owner),
          withExpiry(junk),
          good.replace('" ssh-', `",${junk} ssh-`),
        ]) {
          const r = parseLine(candidate);
          if (r.ok) expect(renderLine(r.line.owner, r.line.key, r.line)).toBe(`${candidate}\n`);
        }
      }),
    );
  });
});

describe('parseObject', () => {
  it('keeps valid lines, reports invalid ones with line numbers, skips blank lines', () => {
    const text = `${good}\n\ncommand="x" ${key.type} ${key.blob}\n${good}\n`;
    const r = parseObject(text);
    expect(r.lines).toHaveLength(2);
    expect(r.rejected).toEqual([{ lineNo: 3, reason: 'line does not match the published format' }]);
  });
  it('an empty object is a user without keys', () => {
    expect(parseObject('')).toEqual({ lines: [], rejected: [] });
  });
});
