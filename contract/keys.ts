// SSH public key parsing and validation. Both sides use it: the publisher never
// publishes a key sshd would not accept, the host agent never prints one.
import { createHash, createPublicKey } from 'node:crypto';

/** Key types we publish and serve. ssh-dss is refused: OpenSSH disabled DSA by default in 7.0. */
export const SUPPORTED_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;

export type KeyType = (typeof SUPPORTED_KEY_TYPES)[number];

/** IAM's own minimum for ssh-rsa uploads; sshd's default floor is lower, ours is not. */
export const MIN_RSA_BITS = 2048;
/** Larger than any sane key (a 16384-bit RSA key is ~2.8 KB of base64). */
export const MAX_BLOB_BASE64 = 4096;

export interface PublicKey {
  readonly type: KeyType;
  /** Canonical base64 of the key blob. */
  readonly blob: string;
  /** sshd's %f form: SHA256:<unpadded base64>. */
  readonly fingerprint: string;
  /** Key size in bits (RSA modulus, curve size, 256 for ed25519). */
  readonly bits: number;
}

export type KeyResult =
  | { readonly ok: true; readonly key: PublicKey }
  | { readonly ok: false; readonly reason: string };

/** A key blob's characters (parseKey also wants a length that is a multiple of 4). */
export const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const ECDSA_CURVES = new Map<string, { curve: string; pointLen: number; bits: number }>([
  ['ecdsa-sha2-nistp256', { curve: 'nistp256', pointLen: 65, bits: 256 }],
  ['ecdsa-sha2-nistp384', { curve: 'nistp384', pointLen: 97, bits: 384 }],
  ['ecdsa-sha2-nistp521', { curve: 'nistp521', pointLen: 133, bits: 521 }],
  ['sk-ecdsa-sha2-nistp256@openssh.com', { curve: 'nistp256', pointLen: 65, bits: 256 }],
]);

export function isSupportedKeyType(t: string): t is KeyType {
  return (SUPPORTED_KEY_TYPES as readonly string[]).includes(t);
}

export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Reads SSH wire-format strings (uint32 length + bytes) from a blob. */
class WireReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer | undefined {
    if (this.off + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.off);
    const start = this.off + 4;
    if (len > this.buf.length - start) return undefined;
    this.off = start + len;
    return this.buf.subarray(start, this.off);
  }
  get done(): boolean {
    return this.off === this.buf.length;
  }
}

function fail(reason: string): KeyResult {
  return { ok: false, reason };
}

/** Bit length of a positive SSH mpint. */
function mpintBits(m: Buffer): number | undefined {
  if (m.length === 0 || (m[0] as number) & 0x80) return undefined; // zero or negative
  let i = 0;
  while (i < m.length && m[i] === 0) i++;
  if (i === m.length) return undefined;
  if (i > 1 || (i === 1 && !((m[1] as number) & 0x80))) return undefined; // non-minimal encoding
  return (m.length - i - 1) * 8 + (32 - Math.clz32(m[i] as number));
}

/**
 * Validates one key given as its type and base64 blob: the type is supported,
 * the base64 is canonical, and the blob's structure matches the type exactly.
 */
export function validateKey(type: string, blobB64: string): KeyResult {
  if (!isSupportedKeyType(type)) return fail(`unsupported key type ${JSON.stringify(type.slice(0, 40))}`);
  if (blobB64.length > MAX_BLOB_BASE64) return fail('key blob too large');
  if (!BASE64.test(blobB64) || blobB64.length % 4 !== 0) return fail('key blob is not valid base64');
  const blob = Buffer.from(blobB64, 'base64');
  if (blob.toString('base64') !== blobB64) return fail('key blob is not canonical base64');
  const r = new WireReader(blob);
  const inner = r.string();
  if (!inner || inner.toString('latin1') !== type) return fail(`key blob does not hold a ${type} key`);
  let bits: number | undefined;
  if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    const eBits = e && mpintBits(e);
    bits = n && mpintBits(n);
    if (!eBits || !bits) return fail('malformed ssh-rsa key');
    if (bits < MIN_RSA_BITS)
      return fail(`ssh-rsa key of ${bits} bits is below the ${MIN_RSA_BITS}-bit minimum`);
  } else if (type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') {
    const pk = r.string();
    if (pk?.length !== 32) return fail(`malformed ${type} key`);
    bits = 256;
  } else {
    const spec = ECDSA_CURVES.get(type);
    const curve = r.string();
    const point = r.string();
    if (!spec || !curve || curve.toString('latin1') !== spec.curve || !point)
      return fail(`malformed ${type} key`);
    if (point.length !== spec.pointLen || point[0] !== 0x04) return fail(`malformed ${type} key point`);
    bits = spec.bits;
  }
  if (type.startsWith('sk-')) {
    const application = r.string();
    if (!application || application.length === 0) return fail(`malformed ${type} key: no application`);
  }
  if (!r.done) return fail(`trailing data in ${type} key blob`);
  return { ok: true, key: { type, blob: blobB64, fingerprint: fingerprintOfBlob(blob), bits } };
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function mpint(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  const trimmed = unsigned.subarray(i);
  return sshString((trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** Converts a PEM public key (IAM accepts PEM uploads) to OpenSSH form. */
function pemToOpenSsh(pem: string): { type: string; blob: string } | string {
  let jwk: { kty?: string; n?: string; e?: string; crv?: string; x?: string; y?: string };
  try {
    jwk = createPublicKey(pem).export({ format: 'jwk' }) as typeof jwk;
  } catch {
    return 'malformed PEM public key';
  }
  const b64u = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');
  if (jwk.kty === 'RSA') {
    const blob = Buffer.concat([sshString('ssh-rsa'), mpint(b64u(jwk.e)), mpint(b64u(jwk.n))]);
    return { type: 'ssh-rsa', blob: blob.toString('base64') };
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return {
      type: 'ssh-ed25519',
      blob: Buffer.concat([sshString('ssh-ed25519'), sshString(b64u(jwk.x))]).toString('base64'),
    };
  }
  const curves = new Map([
    ['P-256', 'nistp256'],
    ['P-384', 'nistp384'],
    ['P-521', 'nistp521'],
  ]);
  const curve = jwk.kty === 'EC' && jwk.crv ? curves.get(jwk.crv) : undefined;
  if (curve) {
    const type = `ecdsa-sha2-${curve}`;
    const point = Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)]);
    return {
      type,
      blob: Buffer.concat([sshString(type), sshString(curve), sshString(point)]).toString('base64'),
    };
  }
  return `unsupported PEM key type ${jwk.kty ?? 'unknown'}`;
}

/**
 * Parses a key body as IAM returns it: OpenSSH 'type base64 [comment]' or PEM.
 * The comment and any surrounding white space are dropped; options are refused.
 */
export function parsePublicKeyText(text: string): KeyResult {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const converted = pemToOpenSsh(trimmed);
    return typeof converted === 'string' ? fail(converted) : validateKey(converted.type, converted.blob);
  }
  if (/[\r\n\0]/.test(trimmed)) return fail('key text spans several lines');
  const [type = '', blob = ''] = trimmed.split(/[ \t]+/);
  return validateKey(type, blob);
}
