import { describe, expect, it } from 'vitest';
import { type MfaDeps, mfaCodeSource, type Terminal } from '../../../../cli/credentials/mfa.js';

function fakeTerminal(lines: (string | undefined)[]): Terminal & { written: string[]; closed: boolean } {
  const t = {
    written: [] as string[],
    closed: false,
    write: (s: string) => void t.written.push(s),
    readLine: () => lines.shift(),
    close: () => {
      t.closed = true;
    },
  };
  return t;
}

const deps = (over: Partial<MfaDeps>): MfaDeps => ({
  readStdin: () => {
    throw new Error('stdin read');
  },
  openTerminal: () => undefined,
  ...over,
});

describe('mfaCodeSource', () => {
  it.each<[string, Partial<MfaDeps>, string]>([
    ['given', { given: '123456' }, '123456'],
    ['given with spaces', { given: ' 123456 ' }, '123456'],
    ['stdin', { given: '-', readStdin: () => '654321\nmore\n' }, '654321'],
  ])('%s', (_n, over, want) => expect(mfaCodeSource(deps(over))('p', 'arn:m')).toBe(want));

  it.each<[string, Partial<MfaDeps>, RegExp]>([
    [
      'no terminal',
      {},
      /^profile p needs an MFA code \(arn:m\) and there is no terminal to ask on: pass --mfa-code/,
    ],
    ['a bad given code', { given: '12345' }, /the MFA code given is not 6 digits/],
    ['a bad stdin code', { given: '-', readStdin: () => '' }, /the MFA code read from stdin is not 6 digits/],
  ])('refuses: %s', (_n, over, message) =>
    expect(() => mfaCodeSource(deps(over))('p', 'arn:m')).toThrow(message),
  );

  it('asks on the terminal, again after a wrong entry, and closes it', () => {
    const tty = fakeTerminal(['12', '987654']);
    expect(mfaCodeSource(deps({ openTerminal: () => tty }))('admin', 'arn:m')).toBe('987654');
    expect(tty.written).toEqual([
      'MFA code for arn:m (profile admin): ',
      'an MFA code is 6 digits\n',
      'MFA code for arn:m (profile admin): ',
    ]);
    expect(tty.closed).toBe(true);
  });

  it.each([
    [[undefined], /no MFA code entered for profile admin/],
    [['a', 'b', 'c', '123456'], /no valid MFA code entered/],
  ])('gives up on the terminal: %j', (lines, message) => {
    const tty = fakeTerminal(lines);
    expect(() => mfaCodeSource(deps({ openTerminal: () => tty }))('admin', 'arn:m')).toThrow(message);
    expect(tty.closed).toBe(true);
  });
});
