// Real key pairs for tests, generated with node:crypto and converted to OpenSSH
// public-key text through the contract's PEM path.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { type KeyType, parsePublicKeyText } from '../contract/index.js';

export interface TestKey {
  /** 'type base64' */
  readonly openssh: string;
  readonly type: KeyType;
  readonly blob: string;
  readonly fingerprint: string;
}

export function makeKey(kind: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519', bits = 2048): TestKey {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: bits })
      : kind === 'ecdsa'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const r = parsePublicKeyText(pem);
  if (!r.ok) throw new Error(`test key conversion failed: ${r.reason}`);
  return {
    openssh: `${r.key.type} ${r.key.blob}`,
    type: r.key.type,
    blob: r.key.blob,
    fingerprint: r.key.fingerprint,
  };
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/**
 * A FIDO security-key public key (as `ssh-keygen -t ed25519-sk` / `ecdsa-sk`
 * writes it) around a real curve point: the private half lives in an
 * authenticator, so no test can log in with it, but its public text is exact.
 */
export function makeSkKey(kind: 'ed25519' | 'ecdsa' = 'ed25519', application = 'ssh:'): TestKey {
  const inner = makeKey(kind);
  const parts = [] as Buffer[];
  const blob = Buffer.from(inner.blob, 'base64');
  if (kind === 'ed25519') {
    // ssh-ed25519 blob: string type, string pk(32)
    const pk = blob.subarray(blob.length - 32);
    parts.push(sshString('sk-ssh-ed25519@openssh.com'), sshString(pk));
  } else {
    const point = blob.subarray(blob.length - 65);
    parts.push(sshString('sk-ecdsa-sha2-nistp256@openssh.com'), sshString('nistp256'), sshString(point));
  }
  parts.push(sshString(application));
  const r = parsePublicKeyText(
    `${kind === 'ed25519' ? 'sk-ssh-ed25519@openssh.com' : 'sk-ecdsa-sha2-nistp256@openssh.com'} ${Buffer.concat(parts).toString('base64')}`,
  );
  if (!r.ok) throw new Error(`sk test key failed: ${r.reason}`);
  return {
    openssh: `${r.key.type} ${r.key.blob}`,
    type: r.key.type,
    blob: r.key.blob,
    fingerprint: r.key.fingerprint,
  };
}

/**
 * A well-formed ssh-rsa public key of `bits` bits whose modulus is hash bytes
 * of `seed` (not a real key pair: nobody can log in with it). Thousands of
 * them cost nothing, where generating real RSA keys would take minutes: for
 * size and scale figures and the publisher's size limit.
 */
export function syntheticRsaKey(seed: number, bits = 2048): string {
  const n = Buffer.alloc(bits / 8);
  for (let off = 0; off < n.length; off += 32) {
    createHash('sha256').update(`${seed}:${off}`).digest().copy(n, off);
  }
  n[0] = (n[0] as number) | 0x80;
  n[n.length - 1] = (n[n.length - 1] as number) | 1;
  const blob = Buffer.concat([
    sshString('ssh-rsa'),
    sshString(Buffer.from([0x01, 0x00, 0x01])),
    sshString(Buffer.concat([Buffer.from([0]), n])),
  ]);
  return `ssh-rsa ${blob.toString('base64')}`;
}
