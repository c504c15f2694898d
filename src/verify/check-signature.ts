/**
 * Checks one signature against one signer: pure and synchronous over pre-loaded trust material.
 * Every outcome carries a reason code (src/errors.ts) so a denial explains itself.
 */
import { createHash, verify as cryptoVerify, X509Certificate as NodeX509 } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { X509Certificate } from '@sigstore/core';
import { Verifier, toSignedEntity, VerificationError } from '@sigstore/verify';
import type { Signer, TrustMaterial } from '@sigstore/verify';
import { verifyCertificateChain } from '@sigstore/verify/dist/key/certificate.js';
import { verifyBundle } from '../bundle/index.ts';
import { CountersignError, isCountersignError } from '../errors.ts';
import { digestHex } from '../oci/digest.ts';
import { bundleStatement, COSIGN_SIGN_PREDICATE } from '../signature/bundle-kind.ts';
import type { TrustRoot } from '../trust/index.ts';
import type { ErrorCode } from '../errors.ts';
import { missingAnnotations, parseSimpleSigningPayload } from '../signature/simple-signing.ts';
import type { SimpleSigningPayload } from '../signature/simple-signing.ts';
import { matchIdentity } from './identity.ts';
import { candidateHashes } from './keys.ts';
import { legacySignatureToBundle } from './legacy-bundle.ts';
import type { HashName } from './legacy-bundle.ts';
import type {
  BundleSignature,
  CertificateSignerTrust,
  KeySignerTrust,
  LegacyCosignSignature,
  PublicKeyMaterial,
  SignatureCandidate,
  SignatureCheck,
  SignerTrust,
  SigningIdentity,
  TrustAnchors,
  VerificationSubject,
} from './types.ts';

export interface CheckOptions {
  /** The time certificates from CA-only roots are checked at. */
  readonly now: Date;
  /** Require the payload's docker-reference to name the image's repository. */
  readonly matchDockerReference?: boolean;
}

function fail(code: ErrorCode, detail: string): SignatureCheck {
  return { ok: false, code, detail };
}

/** Checks a candidate against a signer; never throws for bad evidence, only returns a coded failure. */
export function checkSignature(
  candidate: SignatureCandidate,
  signer: SignerTrust,
  subject: VerificationSubject,
  options: CheckOptions,
): SignatureCheck {
  try {
    switch (candidate.format) {
      case 'cosign-legacy':
        return checkLegacy(candidate, signer, subject, options);
      case 'bundle':
        return checkImageBundle(candidate, signer, subject, options);
    }
  } catch (e: unknown) {
    if (isCountersignError(e)) return fail(e.code, e.message);
    return fail('SIGNATURE_INVALID', `${candidate.id}: ${(e as Error).message}`);
  }
}

/** Trust material with no logs or authorities: key-signed bundles checked on the key alone. */
const KEYS_ONLY_ROOT: TrustRoot = {
  name: 'keys-only',
  json: {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  },
  fingerprint: '',
  hasCertificateAuthorities: false,
  hasTlogs: false,
  hasCtlogs: false,
  hasTimestampAuthorities: false,
  caOnly: false,
};

/**
 * A cosign v3 signature bundle: a DSSE in-toto statement with predicateType
 * https://sigstore.dev/cosign/sign/v1 whose subject digest must be the image digest.
 */
function checkImageBundle(
  sig: BundleSignature,
  signer: SignerTrust,
  subject: VerificationSubject,
  options: CheckOptions,
): SignatureCheck {
  const statement = bundleStatement(sig.bundleJson);
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    return fail('NOT_A_SIGNATURE', `${sig.id}: an attestation (${statement.predicateType}), not a signature`);
  }
  const artifact = { kind: 'digest', sha256Hex: digestHex(subject.digest) } as const;
  let result: SignatureCheck;
  if (signer.kind === 'key') {
    const root = signer.requireTlog ? signer.trustedRoot?.root : KEYS_ONLY_ROOT;
    if (root === undefined)
      return fail(
        'TLOG_MISSING',
        `${sig.id}: the transparency log is required but no trusted root is configured`,
      );
    result = verifyBundle({
      bundleJson: sig.bundleJson,
      artifact,
      trustRoot: root,
      key: signer.key,
      now: options.now,
    });
  } else {
    const root = signer.trustedRoot.root;
    if (root === undefined)
      return fail('NOT_APPLICABLE', `${sig.id}: bundles need a trusted_root.json trust root`);
    result = verifyBundle({
      bundleJson: sig.bundleJson,
      artifact,
      trustRoot: root,
      identity: signer.identity,
      now: options.now,
    });
  }
  if (!result.ok) return { ...result, detail: `${sig.id}: ${result.detail}` };
  if (Object.keys(signer.annotations).length > 0) {
    return fail('ANNOTATION_MISMATCH', `${sig.id}: bundle signatures carry no payload annotations to match`);
  }
  return { ...result, detail: `${sig.id}: ${result.detail} (Sigstore bundle)` };
}

function checkPayload(
  sig: LegacyCosignSignature,
  signer: SignerTrust,
  subject: VerificationSubject,
  options: CheckOptions,
): SimpleSigningPayload {
  const payload = parseSimpleSigningPayload(sig.payload);
  if (payload.manifestDigest !== subject.digest) {
    throw new CountersignError(
      'PAYLOAD_DIGEST_MISMATCH',
      `${sig.id}: signs ${payload.manifestDigest}, not the image ${subject.digest}`,
    );
  }
  if (
    (options.matchDockerReference === true || signer.matchDockerReference === true) &&
    subject.repository !== undefined
  ) {
    const ref = payload.dockerReference
      .replace(/@sha256:[0-9a-f]{64}$/, '')
      .replace(/:[\w][\w.-]{0,127}$/, '');
    if (ref !== subject.repository) {
      throw new CountersignError(
        'PAYLOAD_REFERENCE_MISMATCH',
        `${sig.id}: docker-reference "${payload.dockerReference}" does not name ${subject.repository}`,
      );
    }
  }
  return payload;
}

function checkLegacy(
  sig: LegacyCosignSignature,
  signer: SignerTrust,
  subject: VerificationSubject,
  options: CheckOptions,
): SignatureCheck {
  const payload = checkPayload(sig, signer, subject, options);
  const result =
    signer.kind === 'key'
      ? checkLegacyWithKey(sig, signer)
      : checkLegacyWithCertificate(sig, signer, options);
  if (!result.ok) return explainFailure(sig, result);
  const missing = missingAnnotations(payload, signer.annotations);
  if (missing.length > 0) {
    return fail('ANNOTATION_MISMATCH', `${sig.id}: payload lacks required annotations ${missing.join(', ')}`);
  }
  return result;
}

/**
 * A signature that does not verify is either by another key or over a payload changed after
 * signing. cosign records each layer's digest in the signature image's config: when the payload no
 * longer matches that record, the layer was replaced, and the code says so.
 */
function explainFailure(sig: LegacyCosignSignature, result: SignatureCheck): SignatureCheck {
  if (result.ok || result.code !== 'SIGNATURE_INVALID' || sig.recordedDigest === undefined) return result;
  const actual = `sha256:${createHash('sha256').update(sig.payload).digest('hex')}`;
  if (actual === sig.recordedDigest) return result;
  return fail(
    'SIGNATURE_LAYER_MODIFIED',
    `${sig.id}: payload ${actual} is not the layer ${sig.recordedDigest} the signature image recorded: replaced after signing`,
  );
}

/** Which hash, if any, makes the signature verify under the key (cosign has used several). */
export function verifyRawSignature(
  key: PublicKeyMaterial,
  data: Uint8Array,
  signature: Uint8Array,
): HashName | 'ed25519' | 'ed25519ph' | undefined {
  if (key.algorithm === 'ed25519') {
    if (cryptoVerify(null, data, key.key, signature)) return 'ed25519';
    const raw = key.key.export({ format: 'jwk' }).x;
    if (raw !== undefined && signature.length === 64) {
      try {
        if (ed25519ph.verify(signature, data, Buffer.from(raw, 'base64url'))) return 'ed25519ph';
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
  for (const hash of candidateHashes(key.algorithm)) {
    try {
      if (cryptoVerify(hash, data, key.key, signature)) return hash;
    } catch {
      // malformed signature encodings are simply not valid
    }
  }
  return undefined;
}

function checkLegacyWithKey(sig: LegacyCosignSignature, signer: KeySignerTrust): SignatureCheck {
  const how = verifyRawSignature(signer.key, sig.payload, sig.signature);
  if (how === undefined) {
    return fail('SIGNATURE_INVALID', `${sig.id}: signature does not verify under key ${signer.key.name}`);
  }
  const identity: SigningIdentity = { kind: 'key', fingerprint: signer.key.fingerprint };
  if (!signer.requireTlog) {
    return { ok: true, identity, detail: `${sig.id}: verified with key ${signer.key.name} (${how})` };
  }
  if (sig.rekorBundle === undefined) {
    return fail(
      'TLOG_MISSING',
      `${sig.id}: no Rekor entry (dev.sigstore.cosign/bundle), but the transparency log is required`,
    );
  }
  const root = signer.trustedRoot;
  if (root === undefined || !root.hasTlogs) {
    return fail(
      'TLOG_MISSING',
      `${sig.id}: the transparency log is required but no trusted root with Rekor keys is configured`,
    );
  }
  if (how === 'ed25519' || how === 'ed25519ph') {
    // @sigstore/verify verifies message signatures with a hash; Ed25519 has none to give it.
    return fail('TLOG_INVALID', `${sig.id}: Rekor evidence for Ed25519 key signatures is not supported`);
  }
  const bundle = legacySignatureToBundle(sig, { hash: how, withTlog: true, keyHint: signer.key.fingerprint });
  const material: TrustMaterial = {
    ...root.material,
    publicKey: (hint: string) => {
      if (hint !== signer.key.fingerprint)
        throw new CountersignError('SIGNATURE_INVALID', 'unknown key hint');
      return { publicKey: signer.key.key, validFor: () => true };
    },
  };
  try {
    new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }).verify(
      toSignedEntity(bundle, Buffer.from(sig.payload)),
    );
  } catch (e: unknown) {
    return fail('TLOG_INVALID', `${sig.id}: Rekor entry does not verify: ${describeSigstoreError(e)}`);
  }
  return {
    ok: true,
    identity,
    detail: `${sig.id}: verified with key ${signer.key.name} (${how}), Rekor SET verified offline`,
  };
}

function describeSigstoreError(e: unknown): string {
  if (e instanceof VerificationError) {
    const cause = e.cause instanceof Error ? ` (${e.cause.message})` : '';
    return `${e.code}: ${e.message}${cause}`;
  }
  return e instanceof Error ? e.message : String(e);
}

const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const EKU_ANY = '2.5.29.37.0';

function checkLegacyWithCertificate(
  sig: LegacyCosignSignature,
  signer: CertificateSignerTrust,
  options: CheckOptions,
): SignatureCheck {
  if (sig.certificatePem === undefined) {
    return fail('NOT_APPLICABLE', `${sig.id}: a key signature, not a certificate signature`);
  }
  let leaf: X509Certificate;
  try {
    leaf = X509Certificate.parse(sig.certificatePem);
  } catch {
    return fail('CERTIFICATE_INVALID', `${sig.id}: certificate annotation does not parse`);
  }
  const node = new NodeX509(sig.certificatePem);
  // As Go's x509 (cosign): no EKU extension means unrestricted; when present it must allow code signing.
  // @types/node says string[], but Node returns undefined when the extension is absent.
  const eku = node.keyUsage as string[] | undefined;
  if (eku !== undefined && !eku.includes(EKU_CODE_SIGNING) && !eku.includes(EKU_ANY)) {
    return fail('CERTIFICATE_INVALID', `${sig.id}: certificate lacks the codeSigning extended key usage`);
  }
  const root = signer.trustedRoot;
  const hash: HashName =
    node.publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
  let signerInfo: Signer;
  let timeNote: string;
  if (root.caOnly) {
    // No log and no timestamp authority can vouch for a signing time: check at the current time.
    try {
      verifyCertificateChain(options.now, leaf, root.material.certificateAuthorities);
    } catch (e: unknown) {
      return fail('CERTIFICATE_CHAIN_INVALID', `${sig.id}: ${describeSigstoreError(e)}`);
    }
    if (!cryptoVerify(hash, sig.payload, node.publicKey, sig.signature)) {
      return fail('SIGNATURE_INVALID', `${sig.id}: signature does not verify under the certificate's key`);
    }
    signerInfo = certificateSigner(leaf, node);
    timeNote = `certificate checked at the current time ${options.now.toISOString()} (CA-only trust root, no log)`;
  } else {
    const withTlog = root.hasTlogs && sig.rekorBundle !== undefined;
    if (signer.requireTlog && !withTlog) {
      return fail('TLOG_MISSING', `${sig.id}: no Rekor entry, but the transparency log is required`);
    }
    const bundle = legacySignatureToBundle(sig, { hash, withTlog });
    try {
      signerInfo = new Verifier(root.material, {
        tlogThreshold: signer.requireTlog ? 1 : 0,
        ctlogThreshold: root.hasCtlogs ? 1 : 0,
        timestampThreshold: 1,
      }).verify(toSignedEntity(bundle, Buffer.from(sig.payload)));
    } catch (e: unknown) {
      return fail(sigstoreCode(e), `${sig.id}: ${describeSigstoreError(e)}`);
    }
    timeNote = withTlog
      ? 'signing time from the verified Rekor entry'
      : 'signing time from a verified RFC 3161 timestamp';
  }
  const id = signerIdentity(signerInfo, node);
  const mismatch = matchIdentity(signer.identity, id, signerInfo, !root.caOnly);
  if (mismatch !== undefined) return fail(mismatch.code, `${sig.id}: ${mismatch.detail}`);
  return {
    ok: true,
    identity: id,
    detail: `${sig.id}: certificate for ${id.kind === 'certificate' ? id.subject : ''} verified under trust root ${root.name}; ${timeNote}`,
  };
}

function sigstoreCode(e: unknown): ErrorCode {
  if (!(e instanceof VerificationError)) return 'SIGNATURE_INVALID';
  switch (e.code) {
    case 'TLOG_ERROR':
    case 'TLOG_BODY_ERROR':
    case 'TLOG_INCLUSION_PROOF_ERROR':
    case 'TLOG_INCLUSION_PROMISE_ERROR':
      return 'TLOG_INVALID';
    case 'TIMESTAMP_ERROR':
      return 'TIMESTAMP_INVALID';
    case 'CERTIFICATE_ERROR':
      return e.message.includes('SCT') ? 'SCT_MISSING' : 'CERTIFICATE_CHAIN_INVALID';
    case 'SIGNATURE_ERROR':
      return 'SIGNATURE_INVALID';
    default:
      return 'SIGNATURE_INVALID';
  }
}

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';

function certificateSigner(leaf: X509Certificate, node: NodeX509): Signer {
  let issuer: string | undefined;
  const v2 = leaf.extension(OID_ISSUER_V2);
  if (v2 !== undefined) issuer = v2.valueObj.subs[0]?.value.toString('utf8');
  else issuer = leaf.extension(OID_ISSUER_V1)?.value.toString('utf8');
  const oids = leaf.extensions.map((ext) => ({
    oid: { id: (ext.subs[0]?.toOID() ?? '').split('.').map(Number) },
    value: ext.subs[ext.subs.length - 1]?.value ?? Buffer.alloc(0),
  }));
  return {
    key: node.publicKey,
    identity: {
      extensions: issuer === undefined ? {} : { issuer },
      ...(leaf.subjectAltName === undefined ? {} : { subjectAlternativeName: leaf.subjectAltName }),
      oids,
    },
  };
}

function signerIdentity(s: Signer, node: NodeX509): SigningIdentity {
  const issuer = s.identity?.extensions?.issuer;
  return {
    kind: 'certificate',
    subject: s.identity?.subjectAlternativeName ?? '',
    ...(issuer === undefined ? {} : { issuer }),
    certificateFingerprint: createHash('sha256').update(node.raw).digest('hex'),
  };
}

export type { TrustAnchors };
