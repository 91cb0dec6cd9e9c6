import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseLine, parseObject, renderLine } from '../../../contract/line.js';
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
    ['verify-required refused too (only sshd_config sets FIDO policy)', `verify-required,${skLine}`, false],
  ])('an sk-* line: %s', (_n, line, ok) => {
    expect(parseLine(line).ok).toBe(ok);
  });

  it('property: whatever parses re-renders to exactly the same line', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 20 }), (junk, owner) => {
        for (const candidate of [
          junk,
          `${good}${junk}`,
          `${junk}${good}`,
          good.replace('bob+ops@example.com', owner),
        ]) {
          const r = parseLine(candidate);
          if (r.ok) expect(renderLine(r.line.owner, r.line.key)).toBe(`${candidate}\n`);
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
