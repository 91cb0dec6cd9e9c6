import { describe, expect, it } from 'vitest';
import {
  DIRECTORY_VERSION,
  type Directory,
  DirectoryFormatError,
  type DirectoryUser,
  MAX_HOST_OBJECT_BYTES,
  parseDirectory,
  parseHeartbeat,
  serializeDirectory,
  serializeHeartbeat,
  tooLargeForHosts,
} from '../../../contract/directory.js';
import { MAX_BLOB_BASE64 } from '../../../contract/keys.js';
import { parseLayoutKey } from '../../../contract/layout.js';
import { MAX_LINE_LENGTH, renderLine } from '../../../contract/line.js';
import { MAX_OBJECT_BYTES } from '../../../host-agent/cache.js';

const u = (uid: number, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({
  userId: `AIDA${uid}`,
  localName: null,
  uid,
  groups: [],
  ...extra,
});

const dir = (entries: [string, DirectoryUser][], reservedUids: number[] = []): Directory => ({
  version: DIRECTORY_VERSION,
  users: new Map(entries),
  reservedUids,
});

describe('directory.json', () => {
  const sample = dir(
    [
      ['bob', u(20001, { localName: 'bob', groups: ['Ops', 'Admins'] })],
      ['alice@x.com', u(20000, { localName: 'alice.at.x.com', groups: ['Devs'] })],
      ['a-very-long-name-that-cannot-be-a-local-user-name@x', u(20002, { localNameProblem: 'too long' })],
    ],
    [20005, 20003, 20005],
  );

  it('round-trips, with users in code-unit order, groups sorted and reserved uids deduplicated', () => {
    const text = serializeDirectory(sample);
    const back = parseDirectory(text);
    expect([...back.users.keys()]).toEqual([
      'a-very-long-name-that-cannot-be-a-local-user-name@x',
      'alice@x.com',
      'bob',
    ]);
    expect(back.users.get('bob')).toEqual(u(20001, { localName: 'bob', groups: ['Admins', 'Ops'] }));
    expect(back.users.get('a-very-long-name-that-cannot-be-a-local-user-name@x')?.localNameProblem).toBe(
      'too long',
    );
    expect(back.reservedUids).toEqual([20003, 20005]);
    expect(serializeDirectory(back)).toBe(text);
  });

  it('is byte-identical for equal data in any insertion order (written only when it changes)', () => {
    const reversed = dir([...sample.users].reverse(), [20003, 20005]);
    expect(serializeDirectory(reversed)).toBe(serializeDirectory(sample));
  });

  it('holds no keys, key ids or timestamps, one user a line', () => {
    const text = serializeDirectory(sample);
    expect(text).not.toMatch(/APKA|fingerprint|generatedAt|keys/);
    expect(text.split('\n')).toHaveLength(3 + 3);
  });

  // JSON.stringify of a plain object assigned `o['__proto__'] = x` drops that user: the bug this guards.
  it.each(['__proto__', 'toString', 'constructor', 'valueOf', 'hasOwnProperty'])(
    'keeps an IAM user named %s as plain data, both ways',
    (name) => {
      const text = serializeDirectory(dir([[name, u(20000, { localName: name })]]));
      expect(text).toContain(`"${name}":{"userId":"AIDA20000"`);
      const back = parseDirectory(text);
      expect([...back.users.keys()]).toEqual([name]);
      expect(back.users.get(name)?.uid).toBe(20000);
      expect(Object.getPrototypeOf(back.users)).toBe(Map.prototype);
    },
  );

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /not an object/],
    ['another version', '{"version":2,"reservedUids":[],"users":{}}', /unsupported version 2/],
    ['no users', '{"version":1,"reservedUids":[]}', /no users/],
    ['bad reservedUids', '{"version":1,"reservedUids":[0],"users":{}}', /bad reservedUids/],
    ['a bad IAM name', '{"version":1,"reservedUids":[],"users":{"a b":{}}}', /bad entry for "a b"/],
    [
      'no userId',
      '{"version":1,"reservedUids":[],"users":{"a":{"localName":"a","uid":1,"groups":[]}}}',
      /bad userId/,
    ],
    [
      'a bad local name',
      '{"version":1,"reservedUids":[],"users":{"a":{"userId":"AIDA","localName":"../x","uid":1,"groups":[]}}}',
      /bad localName/,
    ],
    [
      'uid 0',
      '{"version":1,"reservedUids":[],"users":{"a":{"userId":"AIDA","localName":"a","uid":0,"groups":[]}}}',
      /bad uid/,
    ],
    [
      'a bad group',
      '{"version":1,"reservedUids":[],"users":{"a":{"userId":"AIDA","localName":"a","uid":1,"groups":["a/b"]}}}',
      /bad groups/,
    ],
  ])('refuses %s', (_n, text, why) => {
    expect(() => parseDirectory(text)).toThrow(DirectoryFormatError);
    expect(() => parseDirectory(text)).toThrow(why);
  });
});

describe('heartbeat.json', () => {
  it('round-trips and is tiny', () => {
    const text = serializeHeartbeat('2024-06-01T12:00:00.000Z');
    expect(text).toBe('{"version":1,"generatedAt":"2024-06-01T12:00:00.000Z"}\n');
    expect(parseHeartbeat(text).generatedAt).toBe('2024-06-01T12:00:00.000Z');
  });
  it.each(['{', '{"version":2,"generatedAt":"2024-06-01T12:00:00Z"}', '{"version":1,"generatedAt":"soon"}'])(
    'refuses %s',
    (text) => expect(() => parseHeartbeat(text)).toThrow(DirectoryFormatError),
  );
});

describe('the hosts object limit', () => {
  it('is one constant: what the publisher refuses is exactly what the agent cannot read', () => {
    expect(MAX_OBJECT_BYTES).toBe(MAX_HOST_OBJECT_BYTES);
    expect(tooLargeForHosts('a'.repeat(MAX_HOST_OBJECT_BYTES))).toBe(false);
    expect(tooLargeForHosts('a'.repeat(MAX_HOST_OBJECT_BYTES + 1))).toBe(true);
    // Bytes, not characters.
    expect(tooLargeForHosts('é'.repeat(MAX_HOST_OBJECT_BYTES / 2 + 1))).toBe(true);
  });
});

describe('layout', () => {
  it.each([
    ['p/directory.json', { type: 'directory' }],
    ['p/heartbeat.json', { type: 'heartbeat' }],
    ['p/index.json', { type: 'index' }],
    ['p/users/directory.json', undefined],
  ])('parseLayoutKey(%j)', (key, want) => expect(parseLayoutKey('p/', key)).toEqual(want));
});

describe('limits the publisher and the agent share', () => {
  it('the longest line the publisher can render is within the line length the agent reads', () => {
    // Longest IAM user name, longest key type, the largest blob parsePublicKeyText accepts.
    const line = renderLine('a'.repeat(64), {
      type: 'sk-ecdsa-sha2-nistp256@openssh.com',
      blob: 'A'.repeat(MAX_BLOB_BASE64),
    });
    expect(line.length).toBeLessThanOrEqual(MAX_LINE_LENGTH);
  });
});
