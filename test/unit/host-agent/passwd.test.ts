import { describe, expect, it } from 'vitest';
import {
  MAX_ID,
  type PasswdEntry,
  parsePasswd,
  parsePasswdLine,
  uidFromPasswd,
} from '../../../host-agent/passwd.js';

const alice: PasswdEntry = { name: 'alice', uid: 20000, gid: 20001, home: '/home/alice', shell: '/bin/bash' };

describe('parsePasswdLine', () => {
  it.each([
    ['an account', 'alice:x:20000:20001:Alice A:/home/alice:/bin/bash', alice],
    ['empty gecos, password and shell', 'bob::7:8:::', { name: 'bob', uid: 7, gid: 8, home: '', shell: '' }],
    [
      'root',
      'root:x:0:0:root:/root:/bin/bash',
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
    ],
    [
      'the largest id',
      `big:x:${MAX_ID}:${MAX_ID}::/:/bin/sh`,
      { name: 'big', uid: MAX_ID, gid: MAX_ID, home: '/', shell: '/bin/sh' },
    ],
    [
      'leading zeros (decimal, as strtoul reads them)',
      'z:x:020000:0020001::/h:/bin/sh',
      { name: 'z', uid: 20000, gid: 20001, home: '/h', shell: '/bin/sh' },
    ],
    ['a blank line', '', undefined],
    ['a comment', '#alice:x:20000:20001::/home/alice:/bin/bash', undefined],
    ['a short line', 'alice:x:20000', undefined],
    ['six fields', 'alice:x:20000:20001::/home/alice', undefined],
    ['eight fields (a colon too many)', 'alice:x:20000:20001::/home/alice:/bin/bash:extra', undefined],
    ['no name', ':x:20000:20001::/home/alice:/bin/bash', undefined],
    ['an empty uid (Number("") is 0)', 'alice:x::20001::/home/alice:/bin/bash', undefined],
    ['a hex uid', 'alice:x:0x4E20:20001::/home/alice:/bin/bash', undefined],
    ['an exponent uid', 'alice:x:2e4:20001::/home/alice:/bin/bash', undefined],
    ['a negative uid', 'alice:x:-1:20001::/home/alice:/bin/bash', undefined],
    ['a fractional uid', 'alice:x:20000.5:20001::/home/alice:/bin/bash', undefined],
    ['a uid with blanks', 'alice:x: 20000:20001::/home/alice:/bin/bash', undefined],
    ['uid (uid_t)-1', 'alice:x:4294967295:20001::/home/alice:/bin/bash', undefined],
    ['uid beyond 32 bits', 'alice:x:99999999999:20001::/home/alice:/bin/bash', undefined],
    ['a gid out of range', 'alice:x:20000:4294967296::/home/alice:/bin/bash', undefined],
    ['a bad gid', 'alice:x:20000:staff::/home/alice:/bin/bash', undefined],
    ['an NIS compat line', '+alice::::::', undefined],
  ] as [string, string, PasswdEntry | undefined][])('%s', (_name, line, expected) => {
    expect(parsePasswdLine(line)).toEqual(expected);
  });
});

describe('parsePasswd', () => {
  it('keeps every account in order, duplicate names included, and skips what is not one', () => {
    const text = [
      '# local accounts',
      'root:x:0:0:root:/root:/bin/bash',
      'junk',
      'alice:x:20000:20001:Alice A:/home/alice:/bin/bash',
      'alice:x:30000:30000::/srv/alice:/bin/sh',
      '',
    ].join('\n');
    expect(parsePasswd(text).map((e) => [e.name, e.uid])).toEqual([
      ['root', 0],
      ['alice', 20000],
      ['alice', 30000],
    ]);
  });

  it('reads nothing from empty text', () => {
    expect(parsePasswd('')).toEqual([]);
  });
});

describe('uidFromPasswd', () => {
  it.each([
    ['the account', 'alice:x:20000:20001::/home/alice:/bin/sh\n', 'alice', 20000],
    ['another name', 'alice:x:20000:20001::/home/alice:/bin/sh\n', 'bob', undefined],
    [
      'duplicate names: the first wins, as for getpwnam',
      'alice:x:20000:1::/:/bin/sh\nalice:x:0:0::/:/bin/sh\n',
      'alice',
      20000,
    ],
    [
      'a bad line of that name is skipped, as glibc does',
      'alice:x:abc:1::/:/bin/sh\nalice:x:20000:1::/:/bin/sh\n',
      'alice',
      20000,
    ],
    ['a commented-out account', '#alice:x:20000:1::/:/bin/sh\n', '#alice', undefined],
    ['a uid out of range', 'alice:x:4294967295:1::/:/bin/sh\n', 'alice', undefined],
    ['a name that is a prefix', 'alice2:x:20000:1::/:/bin/sh\n', 'alice', undefined],
    ['an empty user', ':x:20000:1::/:/bin/sh\n', '', undefined],
  ] as [string, string, string, number | undefined][])('%s', (_name, text, user, uid) => {
    expect(uidFromPasswd(text, user)).toBe(uid);
  });
});
