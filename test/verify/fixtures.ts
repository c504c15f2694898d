/**
 * In-process crypto fixtures for key-based verification tests: key pairs of every algorithm cosign
 * signs with, simple-signing payloads and legacy cosign signature candidates made from them.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { publicKeyMaterial } from '../../src/verify/keys.ts';
import type { KeySignerTrust, LegacyCosignSignature, PublicKeyMaterial } from '../../src/verify/types.ts';
import type { Digest } from '../../src/oci/types.ts';

export type KeyKind = 'p256' | 'p384' | 'p521' | 'rsa' | 'ed25519';

export interface TestKey {
  readonly kind: KeyKind;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** SPKI `PUBLIC KEY` PEM. */
  readonly publicPem: string;
  readonly material: PublicKeyMaterial;
}

const CURVE: Record<'p256' | 'p384' | 'p521', string> = {
  p256: 'prime256v1',
  p384: 'secp384r1',
  p521: 'secp521r1',
};

/** A fresh key pair; RSA keys are 2048 bits (the smallest accepted). */
export function makeKey(kind: KeyKind): TestKey {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kind === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: CURVE[kind] });
  const publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  return {
    kind,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    publicPem,
    material: publicKeyMaterial(pair.publicKey, `${kind}.pub`),
  };
}

export type SignHow = 'sha256' | 'sha384' | 'sha512' | 'ed25519' | 'ed25519ph';

/** Signs data the way cosign does: DER ECDSA or PKCS#1 v1.5 with a hash, or Ed25519 (pure or ph). */
export function signWith(key: TestKey, data: Uint8Array, how: SignHow): Uint8Array {
  if (how === 'ed25519') return new Uint8Array(sign(null, data, key.privateKey));
  if (how === 'ed25519ph') {
    const seed = key.privateKey.export({ format: 'jwk' }).d;
    if (seed === undefined) throw new Error('not an Ed25519 private key');
    return ed25519ph.sign(data, Buffer.from(seed, 'base64url'));
  }
  return new Uint8Array(sign(how, data, key.privateKey));
}

export const IMAGE_DIGEST: Digest = `sha256:${createHash('sha256').update('the image').digest('hex')}`;
export const OTHER_DIGEST: Digest = `sha256:${createHash('sha256').update('another image').digest('hex')}`;

/** The exact bytes cosign writes as the simple-signing payload. */
export function payloadBytes(
  digest: string = IMAGE_DIGEST,
  optional: Record<string, unknown> | null = null,
  type = 'cosign container image signature',
): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': 'registry.example/vendor/algo' },
        image: { 'docker-manifest-digest': digest },
        type,
      },
      optional,
    }),
  );
}

/** A legacy cosign candidate over payload, signed by key. */
export function legacyCandidate(
  key: TestKey,
  payload: Uint8Array,
  how: SignHow,
  extra: Partial<Pick<LegacyCosignSignature, 'rekorBundle' | 'certificatePem'>> = {},
): LegacyCosignSignature {
  const signature = signWith(key, payload, how);
  return {
    format: 'cosign-legacy',
    id: 'sha256-test.sig#0',
    payload,
    signature,
    annotations: { 'dev.cosignproject.cosign/signature': Buffer.from(signature).toString('base64') },
    ...extra,
  };
}

export function keySigner(key: TestKey, annotations: Record<string, string> = {}): KeySignerTrust {
  return { kind: 'key', key: key.material, requireTlog: false, annotations };
}
