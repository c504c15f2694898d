/**
 * Verifying a message signature when only the artifact's digest is known (the conformance
 * protocol's `sha256:<hex>` input). node:crypto always hashes the message itself, so:
 * - ECDSA: verify over the digest with @noble/curves, prehash off (as sigstore-js's conformance
 *   client does with a pure-JS curve library);
 * - RSA PKCS#1 v1.5: recover the DigestInfo with the public key (RFC 8017 section 8.2.2) and
 *   compare it to the expected one;
 * - Ed25519 signs the message itself, never a digest: cannot be checked from a digest.
 */
import { constants, publicDecrypt, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';

const CURVES = { prime256v1: p256, secp384r1: p384, secp521r1: p521 } as const;

// DER prefix of DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export type DigestVerification = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Verifies `signature` over a precomputed SHA-256 `digest` with `key`. */
export function verifySha256DigestSignature(
  key: KeyObject,
  digest: Uint8Array,
  signature: Uint8Array,
): DigestVerification {
  if (digest.length !== 32) return { ok: false, reason: 'digest is not 32 bytes' };
  switch (key.asymmetricKeyType) {
    case 'ec':
      return verifyEcdsa(key, digest, signature);
    case 'rsa':
      return verifyRsaPkcs1(key, digest, signature);
    default:
      return {
        ok: false,
        reason: `a ${String(key.asymmetricKeyType)} signature cannot be verified from a digest alone`,
      };
  }
}

function verifyEcdsa(key: KeyObject, digest: Uint8Array, signature: Uint8Array): DigestVerification {
  const curveName = key.asymmetricKeyDetails?.namedCurve;
  const curve =
    curveName !== undefined && curveName in CURVES ? CURVES[curveName as keyof typeof CURVES] : undefined;
  if (curve === undefined) return { ok: false, reason: `unsupported curve ${String(curveName)}` };
  const jwk = key.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) return { ok: false, reason: 'EC key without coordinates' };
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x, 'base64url'),
    Buffer.from(jwk.y, 'base64url'),
  ]);
  try {
    // lowS off: Go and OpenSSL signers do not normalise s, and verification accepts both halves.
    const ok = curve.verify(signature, digest, point, { prehash: false, lowS: false, format: 'der' });
    return ok ? { ok: true } : { ok: false, reason: 'signature does not verify over the digest' };
  } catch {
    return { ok: false, reason: 'signature is not a DER ECDSA signature' };
  }
}

function verifyRsaPkcs1(key: KeyObject, digest: Uint8Array, signature: Uint8Array): DigestVerification {
  let recovered: Buffer;
  try {
    recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return { ok: false, reason: 'signature does not verify over the digest' };
  }
  const expected = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
  const ok = recovered.length === expected.length && timingSafeEqual(recovered, expected);
  return ok ? { ok: true } : { ok: false, reason: 'signature does not verify over the digest' };
}
