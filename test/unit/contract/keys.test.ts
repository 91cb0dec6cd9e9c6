import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parsePublicKeyText, validateKey } from '../../../contract/keys.js';
import { makeKey } from '../../../dev/keys.js';

const ed = makeKey('ed25519');
const rsa = makeKey('rsa');
const ec = makeKey('ecdsa');

function blobOf(parts: (string | Buffer)[]): string {
  return Buffer.concat(
    parts.map((p) => {
      const b = typeof p === 'string' ? Buffer.from(p) : p;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return Buffer.concat([len, b]);
    }),
  ).toString('base64');
}

function rsaOpenSsh(bits: number): string {
  const jwk = generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
  const mp = (b64u: string | undefined) => {
    const b = Buffer.from(b64u ?? '', 'base64url');
    return (b[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  };
  return `ssh-rsa ${blobOf(['ssh-rsa', mp(jwk.e), mp(jwk.n)])}`;
}
const rsa1024 = { openssh: rsaOpenSsh(1024) };

describe('parsePublicKeyText', () => {
  it.each([
    ['ed25519 with comment', `${ed.openssh} me@laptop`, ed.fingerprint],
    ['rsa 2048', rsa.openssh, rsa.fingerprint],
    ['rsa 3072 built by hand', rsaOpenSsh(3072), undefined],
    ['ecdsa p256', `  ${ec.openssh}\n`, ec.fingerprint],
    ['tabs between fields', ed.openssh.replace(' ', '\t'), ed.fingerprint],
  ])('accepts %s', (_n, text, fp) => {
    const r = parsePublicKeyText(text);
    expect(r.ok).toBe(true);
    if (fp) expect(r.ok && r.key.fingerprint).toBe(fp);
  });

  it.each([
    ['PEM rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, 'ssh-rsa'],
    ['PEM ed25519', generateKeyPairSync('ed25519').publicKey, 'ssh-ed25519'],
    ['PEM ecdsa p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, 'ecdsa-sha2-nistp384'],
  ])('converts %s to OpenSSH form', (_n, key, type) => {
    const r = parsePublicKeyText(key.export({ type: 'spki', format: 'pem' }).toString());
    expect(r.ok && r.key.type).toBe(type);
  });

  it.each([
    ['empty', '', /unsupported key type/],
    ['dsa', `ssh-dss ${ed.blob}`, /unsupported key type/],
    ['rsa below 2048 bits', rsa1024.openssh, /1024 bits is below/],
    ['type mismatch', `ssh-rsa ${ed.blob}`, /does not hold a ssh-rsa key/],
    ['bad base64', 'ssh-ed25519 AAAA$$$$', /not valid base64/],
    ['truncated blob', `ssh-ed25519 ${ed.blob.slice(0, 40)}`, /base64|malformed/],
    ['two lines', `${ed.openssh}\n${rsa.openssh}`, /several lines/],
    ['options', `command="/bin/sh" ${ed.openssh}`, /unsupported key type/],
    ['garbage PEM', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', /malformed PEM/],
    ['trailing data', `ssh-ed25519 ${blobOf(['ssh-ed25519', Buffer.alloc(32), 'extra'])}`, /trailing data/],
    ['short ed25519', `ssh-ed25519 ${blobOf(['ssh-ed25519', Buffer.alloc(31)])}`, /malformed/],
    [
      'wrong curve',
      `ecdsa-sha2-nistp256 ${blobOf(['ecdsa-sha2-nistp256', 'nistp384', Buffer.alloc(65, 4)])}`,
      /malformed/,
    ],
    [
      'sk key without application',
      `sk-ssh-ed25519@openssh.com ${blobOf(['sk-ssh-ed25519@openssh.com', Buffer.alloc(32)])}`,
      /no application/,
    ],
    [
      'negative rsa modulus',
      `ssh-rsa ${blobOf(['ssh-rsa', Buffer.from([1, 0, 1]), Buffer.alloc(257, 0xff)])}`,
      /malformed/,
    ],
  ])('rejects %s', (_n, text, reason) => {
    const r = parsePublicKeyText(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  it('accepts a security-key ed25519 with an application', () => {
    const blob = blobOf(['sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7), 'ssh:']);
    expect(validateKey('sk-ssh-ed25519@openssh.com', blob).ok).toBe(true);
  });

  it('refuses non-canonical base64 (same bytes, different text)', () => {
    // ecdsa-p256 blobs are 104 bytes: one '=' of padding, so the last data character has 2 unused bits.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    expect(ec.blob.endsWith('=') && !ec.blob.endsWith('==')).toBe(true);
    const last = ec.blob.at(-2) as string;
    const alt = `${ec.blob.slice(0, -2)}${alphabet[alphabet.indexOf(last) + 1]}=`;
    expect(Buffer.from(alt, 'base64')).toEqual(Buffer.from(ec.blob, 'base64'));
    expect(validateKey(ec.type, alt)).toEqual({ ok: false, reason: 'key blob is not canonical base64' });
  });
});
