// Real key pairs for tests, generated with node:crypto and converted to OpenSSH
// public-key text through the contract's PEM path.
import { generateKeyPairSync } from 'node:crypto';
import { type KeyType, parsePublicKeyText } from '../../contract/index.js';

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
