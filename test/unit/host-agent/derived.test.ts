import { describe, expect, it } from 'vitest';
import { renderLine } from '../../../contract/line.js';
import { makeKey } from '../../../dev/keys.js';
import {
  deriveObject,
  FINGERPRINT,
  isFingerprint,
  NATIVE_LINE_CHECKS,
  PATTERN_LINE_CHECKS,
  readDerived,
} from '../../../host-agent/derived.js';
import { drawn, variants } from '../../helpers/strings.js';

describe('isFingerprint (FINGERPRINT without a regular expression)', () => {
  it('answers as FINGERPRINT', () => {
    const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const fps = variants(15, 5000, (r) => `${r() < 0.9 ? 'SHA256:' : 'MD5:'}${drawn(r, b64, 43)}`);
    const edges = [
      'SHA256:',
      `SHA256:${'A'.repeat(42)}=`,
      `sha256:${'A'.repeat(43)}`,
      `SHA256:${'A'.repeat(44)}`,
    ];
    const differ = [...fps, ...edges].filter((f) => FINGERPRINT.test(f) !== isFingerprint(f));
    expect(differ).toEqual([]);
    expect(fps.filter(isFingerprint).length).toBeGreaterThan(1000);
  });
});

describe("readDerived: the standalone's checks and node's refuse the same damaged lines", () => {
  const a = makeKey();
  const b = makeKey('rsa');
  const body = renderLine('alice', a) + renderLine('bob+ops@example.com', b);
  const fresh = () =>
    deriveObject('groups/G/authorized_keys', Buffer.from(body)) as unknown as { lines: unknown[][] };

  it.each([
    ['nothing changed', () => {}, true],
    [
      'owner with a space',
      (l: unknown[][]) => {
        (l[1] as unknown[])[0] = 'bob ops';
      },
      false,
    ],
    [
      'owner with a quote',
      (l: unknown[][]) => {
        (l[0] as unknown[])[0] = 'al"ice';
      },
      false,
    ],
    [
      'owner with a newline',
      (l: unknown[][]) => {
        (l[1] as unknown[])[0] = 'bob\nx';
      },
      false,
    ],
    [
      'owner with * (escape keeps it)',
      (l: unknown[][]) => {
        (l[0] as unknown[])[0] = 'al*ce';
      },
      false,
    ],
    [
      'owner with / (escape keeps it)',
      (l: unknown[][]) => {
        (l[0] as unknown[])[0] = 'al/ce';
      },
      false,
    ],
    [
      'owner with a non-ASCII letter',
      (l: unknown[][]) => {
        (l[0] as unknown[])[0] = 'alïce';
      },
      false,
    ],
    [
      'owner ..',
      (l: unknown[][]) => {
        (l[0] as unknown[])[0] = '..';
      },
      false,
    ],
    [
      'owner of 65 characters',
      (l: unknown[][]) => {
        (l[0] as unknown[])[0] = 'a'.repeat(65);
      },
      false,
    ],
    [
      'blob with a space',
      (l: unknown[][]) => {
        const x = l[0] as string[];
        x[2] = `${x[2]?.slice(0, 8)} ${x[2]?.slice(9)}`;
      },
      false,
    ],
    [
      'blob with a newline',
      (l: unknown[][]) => {
        const x = l[1] as string[];
        x[2] = `${x[2]?.slice(0, 8)}\n${x[2]?.slice(9)}`;
      },
      false,
    ],
    [
      'blob cut by one character',
      (l: unknown[][]) => {
        const x = l[0] as string[];
        x[2] = x[2]?.slice(1) ?? '';
      },
      false,
    ],
    [
      'blob with = inside',
      (l: unknown[][]) => {
        const x = l[0] as string[];
        x[2] = `${x[2]?.slice(0, 8)}=${x[2]?.slice(9)}`;
      },
      false,
    ],
    [
      'fingerprint with a space',
      (l: unknown[][]) => {
        const x = l[0] as string[];
        x[3] = `${x[3]?.slice(0, 20)} ${x[3]?.slice(21)}`;
      },
      false,
    ],
    [
      'fingerprint of MD5',
      (l: unknown[][]) => {
        const x = l[0] as string[];
        x[3] = `MD5:${x[3]?.slice(7)}`;
      },
      false,
    ],
  ])('%s', (_, damage, readable) => {
    for (const checks of [NATIVE_LINE_CHECKS, PATTERN_LINE_CHECKS]) {
      const d = fresh();
      damage(d.lines);
      const r = readDerived(d, checks);
      expect(r === undefined ? 'refused' : 'read').toBe(readable ? 'read' : 'refused');
    }
  });
});
