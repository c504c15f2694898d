/**
 * Sigstore bundle verification (bundle v0.1 to v0.3) against a pre-loaded trust root: pure and
 * synchronous. @sigstore/bundle parses, @sigstore/verify checks timestamps, certificate chain,
 * SCTs, tlog inclusion and the signature; this module adds what those leave to the caller:
 * binding the bundle to the artifact (message digest or in-toto subject), the codeSigning EKU,
 * identity matching with exact strings and anchored patterns, digest-only verification, and
 * CA-only trust roots (no log, no TSA: the certificate is checked at the current time).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { bundleFromJSON } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import type { SignedEntity, Signer, TrustMaterial } from '@sigstore/verify';
import { PolicyError, VerificationError, Verifier, toSignedEntity } from '@sigstore/verify';
import { verifyCertificate } from '@sigstore/verify/dist/key/index.js';
import type { ErrorCode } from '../errors.ts';
import { toTrustMaterial } from '../trust/index.ts';
import type { TrustRoot } from '../trust/index.ts';
import type { IdentityMatcher, PublicKeyMaterial, SignatureCheck } from '../verify/types.ts';
import { verifySha256DigestSignature } from './digest-signature.ts';
import { certificateIdentity, matchIdentity } from './identity.ts';

/** The artifact a bundle must be about: its bytes, or only its SHA-256 digest. */
export type BundleArtifact =
  | { readonly kind: 'bytes'; readonly data: Uint8Array }
  | { readonly kind: 'digest'; readonly sha256Hex: string };

export interface VerifyBundleOptions {
  /** The bundle as JSON text (a string) or as parsed JSON. */
  readonly bundleJson: unknown;
  readonly artifact: BundleArtifact;
  readonly trustRoot: TrustRoot;
  /** For bundles signed with a key (`publicKey` verification material). */
  readonly key?: PublicKeyMaterial;
  /** For bundles signed with a certificate: who must have signed. */
  readonly identity?: IdentityMatcher;
  /** Verification time for roots without any timestamp source (CA-only); defaults to now. */
  readonly now?: Date;
}

const BUNDLE_MEDIA_TYPES = new Set([
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
]);
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT_TYPES = new Set([
  'https://in-toto.io/Statement/v0.1',
  'https://in-toto.io/Statement/v1',
]);
const SHA256_HEX = /^[0-9a-f]{64}$/;

type Failure = { readonly ok: false; readonly code: ErrorCode; readonly detail: string };

function fail(code: ErrorCode, detail: string): Failure {
  return { ok: false, code, detail };
}

/** Verifies one bundle. Never throws for bad evidence: the result carries the reason code. */
export function verifyBundle(opts: VerifyBundleOptions): SignatureCheck {
  const parsed = parseBundle(opts.bundleJson);
  if (!parsed.ok) return parsed;
  const bundle = parsed.bundle;

  const material = bundle.verificationMaterial.content;
  const usesKey = material.$case === 'publicKey';
  if (usesKey && opts.key === undefined) {
    return fail('NOT_APPLICABLE', 'the bundle is signed with a key and no key was given');
  }
  if (!usesKey && opts.key !== undefined) {
    return fail('NOT_APPLICABLE', 'the bundle is signed with a certificate, not with the given key');
  }
  if (!usesKey && opts.identity === undefined) {
    return fail(
      'NOT_APPLICABLE',
      'the bundle is signed with a certificate and no identity to match was given',
    );
  }

  // Roots come from the trust root only; a bundle carrying one is trying to supply its own trust
  // (sigstore-conformance bundle-with-root-cert_fail; Sigstore bundle spec: the chain "MUST NOT"
  // contain the root).
  const rootInChain = selfSignedInChain(bundle);
  if (rootInChain)
    return fail('CERTIFICATE_CHAIN_INVALID', "the bundle's certificate chain contains a root certificate");

  // Bind the bundle to the artifact before any cryptography.
  const entityResult = signedEntityFor(bundle, opts.artifact);
  if (!entityResult.ok) return entityResult;
  const entity = entityResult.entity;

  try {
    const trust = toTrustMaterial(opts.trustRoot, opts.key);
    // Timestamps (RFC 3161 or Rekor), then chain and SCTs, then tlog inclusion and body, then the
    // signature: sigstore client spec, "Verification" section; the Verifier runs them in that order.
    if (hasTimestampSource(opts.trustRoot)) {
      new Verifier(trust, {
        tlogThreshold: opts.trustRoot.hasTlogs ? 1 : 0,
        ctlogThreshold: opts.trustRoot.hasCtlogs ? 1 : 0,
        timestampThreshold: 1,
      }).verify(entity);
    } else {
      verifyWithoutTimestamps(entity, trust, opts.trustRoot, opts.now ?? new Date());
    }
  } catch (e: unknown) {
    return fromSigstoreError(e, opts.trustRoot);
  }

  if (usesKey) {
    const key = opts.key;
    if (key === undefined) return fail('NOT_APPLICABLE', 'no key');
    return {
      ok: true,
      identity: { kind: 'key', fingerprint: key.fingerprint },
      detail: `signed by key ${key.name}`,
    };
  }

  const leaf = leafCertificate(bundle);
  if (leaf === undefined) return fail('CERTIFICATE_INVALID', 'the bundle has no certificate');
  let certId;
  try {
    certId = certificateIdentity(leaf);
  } catch {
    return fail('CERTIFICATE_INVALID', 'the signing certificate cannot be read');
  }
  // Fulcio issues code signing certificates (Fulcio certificate profile: EKU id-kp-codeSigning).
  if (!certId.codeSigning)
    return fail('CERTIFICATE_INVALID', 'the signing certificate lacks the codeSigning EKU');
  const matched = matchIdentity(certId, opts.identity ?? {});
  if (!matched.ok) return matched;
  return {
    ok: true,
    identity: matched.identity,
    detail: `signed by certificate ${certId.subjectAlternativeNames.join(', ')}`,
  };
}

function parseBundle(input: unknown): { ok: true; bundle: Bundle } | Failure {
  let json = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch {
      return fail('BUNDLE_INVALID', 'the bundle is not JSON');
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail('BUNDLE_INVALID', 'the bundle is not a JSON object');
  }
  const mediaType = (json as Record<string, unknown>)['mediaType'];
  if (typeof mediaType !== 'string' || !BUNDLE_MEDIA_TYPES.has(mediaType)) {
    return fail('BUNDLE_INVALID', `unsupported bundle media type ${JSON.stringify(mediaType ?? null)}`);
  }
  try {
    return { ok: true, bundle: bundleFromJSON(json) };
  } catch (e: unknown) {
    return fail('BUNDLE_INVALID', `malformed bundle: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function hasTimestampSource(root: TrustRoot): boolean {
  return root.hasTlogs || root.hasTimestampAuthorities;
}

function signedEntityFor(
  bundle: Bundle,
  artifact: BundleArtifact,
): { ok: true; entity: SignedEntity } | Failure {
  if (artifact.kind === 'digest' && !SHA256_HEX.test(artifact.sha256Hex)) {
    return fail('USAGE', 'the artifact digest must be 64 lowercase hex characters');
  }
  try {
    switch (bundle.content.$case) {
      case 'messageSignature': {
        const { messageDigest, signature } = bundle.content.messageSignature;
        const hash = hashName(messageDigest.algorithm);
        if (hash === undefined) return fail('BUNDLE_INVALID', 'unsupported message digest algorithm');
        const actual =
          artifact.kind === 'bytes'
            ? createHash(hash).update(artifact.data).digest()
            : hash === 'sha256'
              ? Buffer.from(artifact.sha256Hex, 'hex')
              : undefined;
        if (actual === undefined) {
          return fail('SUBJECT_DIGEST_MISMATCH', `the bundle signs a ${hash} digest, not the given sha256`);
        }
        if (!sameBytes(actual, messageDigest.digest)) {
          return fail('SUBJECT_DIGEST_MISMATCH', "the bundle's message digest is not the artifact's digest");
        }
        if (artifact.kind === 'bytes') {
          return { ok: true, entity: toSignedEntity(bundle, Buffer.from(artifact.data)) };
        }
        const entity = toSignedEntity(bundle);
        const digest = Buffer.from(actual);
        const content = entity.signature;
        // Same checks as the library's message signature content, but the signature is verified
        // over the digest (node:crypto would hash it again).
        return {
          ok: true,
          entity: {
            ...entity,
            signature: {
              signature: content.signature,
              compareSignature: (s) => content.compareSignature(s),
              compareDigest: (d) => content.compareDigest(d),
              compareSignedDigest: (d) => content.compareSignedDigest(d),
              verifySignature: (key) => verifySha256DigestSignature(key, digest, signature).ok,
            },
          },
        };
      }
      case 'dsseEnvelope': {
        const env = bundle.content.dsseEnvelope;
        const subject = inTotoSubjectCheck(env.payloadType, env.payload, artifact);
        if (!subject.ok) return subject;
        return { ok: true, entity: toSignedEntity(bundle) };
      }
    }
  } catch (e: unknown) {
    return fail('BUNDLE_INVALID', `malformed bundle: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A DSSE bundle is about the artifact when its in-toto Statement names the artifact's sha256. */
function inTotoSubjectCheck(
  payloadType: string,
  payload: Buffer,
  artifact: BundleArtifact,
): { ok: true } | Failure {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return fail(
      'PAYLOAD_TYPE_INVALID',
      `DSSE payload type ${JSON.stringify(payloadType)} is not an in-toto statement`,
    );
  }
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    return fail('PAYLOAD_INVALID', 'the DSSE payload is not JSON');
  }
  if (typeof statement !== 'object' || statement === null)
    return fail('PAYLOAD_INVALID', 'not an in-toto statement');
  const st = statement as Record<string, unknown>;
  if (typeof st['_type'] !== 'string' || !IN_TOTO_STATEMENT_TYPES.has(st['_type'])) {
    return fail(
      'PAYLOAD_INVALID',
      `unsupported in-toto statement type ${JSON.stringify(st['_type'] ?? null)}`,
    );
  }
  const subjects = st['subject'];
  if (!Array.isArray(subjects)) return fail('PAYLOAD_INVALID', 'the in-toto statement has no subject list');
  const wanted =
    artifact.kind === 'bytes' ? createHash('sha256').update(artifact.data).digest('hex') : artifact.sha256Hex;
  const found = subjects.some((s: unknown) => {
    if (typeof s !== 'object' || s === null) return false;
    const digest = (s as Record<string, unknown>)['digest'];
    if (typeof digest !== 'object' || digest === null) return false;
    const hex = (digest as Record<string, unknown>)['sha256'];
    return typeof hex === 'string' && hex.toLowerCase() === wanted;
  });
  return found
    ? { ok: true }
    : fail('SUBJECT_DIGEST_MISMATCH', 'no in-toto subject has the artifact sha256 digest');
}

/**
 * Trust roots without tlogs and TSAs (a corporate CA, or a bare key) give no signing time: the
 * certificate is checked at `now`, as cosign does for such roots, and no log entry is required.
 */
function verifyWithoutTimestamps(
  entity: SignedEntity,
  trust: TrustMaterial,
  root: TrustRoot,
  now: Date,
): void {
  let signer: Signer;
  switch (entity.key.$case) {
    case 'public-key':
      signer = { key: trust.publicKey(entity.key.hint).publicKey };
      break;
    case 'certificate': {
      const result = verifyCertificate(entity.key.certificate, [now], trust);
      if (root.hasCtlogs && result.scts.length === 0) {
        throw new VerificationError({ code: 'CERTIFICATE_ERROR', message: 'expected 1 SCTs, got 0' });
      }
      signer = result.signer;
      break;
    }
  }
  if (!entity.signature.verifySignature(signer.key)) {
    throw new VerificationError({ code: 'SIGNATURE_ERROR', message: 'signature verification failed' });
  }
}

function selfSignedInChain(bundle: Bundle): boolean {
  const m = bundle.verificationMaterial.content;
  if (m.$case !== 'x509CertificateChain') return false;
  return m.x509CertificateChain.certificates.some((c) => {
    try {
      const cert = X509Certificate.parse(Buffer.from(c.rawBytes));
      return cert.subject.equals(cert.issuer);
    } catch {
      return false;
    }
  });
}

function leafCertificate(bundle: Bundle): Uint8Array | undefined {
  const m = bundle.verificationMaterial.content;
  switch (m.$case) {
    case 'certificate':
      return m.certificate.rawBytes;
    case 'x509CertificateChain':
      return m.x509CertificateChain.certificates[0]?.rawBytes;
    case 'publicKey':
      return undefined;
  }
}

/** Maps @sigstore/verify error codes and messages onto countersign reason codes. */
function fromSigstoreError(e: unknown, root: TrustRoot): Failure {
  if (e instanceof VerificationError || e instanceof PolicyError) {
    const causeMessage = e.cause instanceof Error ? e.cause.message : '';
    const detail = causeMessage === '' ? e.message : `${e.message}: ${causeMessage}`;
    switch (e.code) {
      case 'CERTIFICATE_ERROR':
        if (/^expected \d+ SCTs, got 0$/.test(e.message)) return fail('SCT_MISSING', detail);
        if (e.message.includes('SCT')) return fail('SCT_INVALID', detail);
        if (/expired/.test(detail)) return fail('CERTIFICATE_EXPIRED', detail);
        return fail('CERTIFICATE_CHAIN_INVALID', detail);
      case 'TIMESTAMP_ERROR':
        if (/got 0$/.test(e.message) && root.hasTlogs)
          return fail('TLOG_MISSING', `no verified log entry: ${detail}`);
        return fail('TIMESTAMP_INVALID', detail);
      case 'TLOG_MISSING_INCLUSION_ERROR':
        return fail('TLOG_MISSING', detail);
      case 'TLOG_ERROR':
        if (/got 0$/.test(e.message)) return fail('TLOG_MISSING', detail);
        return fail('TLOG_INVALID', detail);
      case 'TLOG_BODY_ERROR':
      case 'TLOG_INCLUSION_PROOF_ERROR':
      case 'TLOG_INCLUSION_PROMISE_ERROR':
        return fail('TLOG_INVALID', detail);
      case 'SIGNATURE_ERROR':
      case 'PUBLIC_KEY_ERROR':
        return fail('SIGNATURE_INVALID', detail);
      case 'UNTRUSTED_SIGNER_ERROR':
        return fail('IDENTITY_MISMATCH', detail);
      default:
        return fail('SIGNATURE_INVALID', detail);
    }
  }
  // Anything else thrown while reading bundle contents means the bundle is malformed.
  return fail('BUNDLE_INVALID', e instanceof Error ? e.message : String(e));
}

function hashName(alg: HashAlgorithm): 'sha256' | 'sha384' | 'sha512' | undefined {
  switch (alg) {
    case HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED:
    case HashAlgorithm.SHA2_256:
      return 'sha256';
    case HashAlgorithm.SHA2_384:
      return 'sha384';
    case HashAlgorithm.SHA2_512:
      return 'sha512';
    default:
      return undefined;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
