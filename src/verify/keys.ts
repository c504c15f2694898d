/**
 * Public keys as cosign users hand them over: PEM `PUBLIC KEY` (SPKI: ECDSA P-256/384/521, RSA,
 * Ed25519) and PKCS#1 `RSA PUBLIC KEY`. Pure: the caller reads the file.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.ts';
import type { PublicKeyMaterial } from './types.ts';

const CURVES: Record<string, PublicKeyMaterial['algorithm']> = {
  prime256v1: 'ecdsa-p256',
  'P-256': 'ecdsa-p256',
  secp384r1: 'ecdsa-p384',
  'P-384': 'ecdsa-p384',
  secp521r1: 'ecdsa-p521',
  'P-521': 'ecdsa-p521',
};

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----/g;

/** Parses exactly one PEM public key. */
export function parsePublicKeyPem(pem: string, name: string): PublicKeyMaterial {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length !== 1) {
    throw new CountersignError(
      'KEY_INVALID',
      `${name}: expected exactly one PEM public key, found ${blocks.length} PEM blocks`,
    );
  }
  const [, label = '', body = ''] = blocks[0] ?? [];
  const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  let key: KeyObject;
  try {
    switch (label) {
      case 'PUBLIC KEY':
        key = createPublicKey({ key: der, format: 'der', type: 'spki' });
        break;
      case 'RSA PUBLIC KEY':
        key = createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
        break;
      default:
        throw new CountersignError('KEY_INVALID', `${name}: PEM block "${label}" is not a public key`);
    }
  } catch (e: unknown) {
    if (e instanceof CountersignError) throw e;
    throw new CountersignError('KEY_INVALID', `${name}: not a valid public key (${(e as Error).message})`);
  }
  return publicKeyMaterial(key, name);
}

/** Describes a KeyObject: algorithm and SPKI fingerprint, refusing key types cosign does not sign with. */
export function publicKeyMaterial(key: KeyObject, name: string): PublicKeyMaterial {
  const algorithm = keyAlgorithm(key, name);
  const spki = key.export({ format: 'der', type: 'spki' });
  return { name, key, algorithm, fingerprint: createHash('sha256').update(spki).digest('hex') };
}

function keyAlgorithm(key: KeyObject, name: string): PublicKeyMaterial['algorithm'] {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
      const alg = CURVES[curve];
      if (alg === undefined)
        throw new CountersignError('KEY_INVALID', `${name}: unsupported EC curve "${curve}"`);
      return alg;
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048)
        throw new CountersignError('KEY_INVALID', `${name}: RSA key of ${bits} bits is too weak`);
      return 'rsa';
    }
    case 'ed25519':
      return 'ed25519';
    default:
      throw new CountersignError(
        'KEY_INVALID',
        `${name}: unsupported key type "${String(key.asymmetricKeyType)}"`,
      );
  }
}

/**
 * Hash algorithms a signature by this key may use, most likely first. cosign hashes P-384/P-521
 * with SHA-384/512 since v2.2 and with SHA-256 before; RSA uses SHA-256 (PKCS#1 v1.5).
 */
export function candidateHashes(
  alg: PublicKeyMaterial['algorithm'],
): readonly ('sha256' | 'sha384' | 'sha512')[] {
  switch (alg) {
    case 'ecdsa-p256':
    case 'rsa':
      return ['sha256'];
    case 'ecdsa-p384':
      return ['sha384', 'sha256'];
    case 'ecdsa-p521':
      return ['sha512', 'sha256'];
    case 'ed25519':
      return ['sha512'];
  }
}
