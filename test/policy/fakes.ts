/**
 * Test doubles for policy evaluation: signature candidates that say who made them, and a fake
 * check that "verifies" a candidate when its maker matches the signer's trust. Real verification is
 * tested in test/verify; here only the counting is under test.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { Policy, PolicyResolver, PolicySigner } from '../../src/policy/index.ts';
import type { BoundPolicy, CheckSignature } from '../../src/policy/index.ts';
import type {
  CertificateSignerTrust,
  KeySignerTrust,
  LegacyCosignSignature,
  SignatureCheck,
  SignerTrust,
  TrustAnchors,
} from '../../src/verify/types.ts';

const { publicKey } = generateKeyPairSync('ed25519');

export const DIGEST = `sha256:${'ab'.repeat(32)}` as const;

/** A signature made by a key (fingerprint) or a certificate identity (subject, issuer). */
export function keySig(id: string, fingerprint: string): LegacyCosignSignature {
  return {
    format: 'cosign-legacy',
    id,
    payload: new Uint8Array(),
    signature: new Uint8Array(),
    annotations: { 'test/fingerprint': fingerprint },
  };
}

export function certSig(id: string, subject: string, issuer: string): LegacyCosignSignature {
  return {
    format: 'cosign-legacy',
    id,
    payload: new Uint8Array(),
    signature: new Uint8Array(),
    annotations: { 'test/subject': subject, 'test/issuer': issuer },
  };
}

/** A signature that fails every check with SIGNATURE_INVALID. */
export function badSig(id: string): LegacyCosignSignature {
  return {
    format: 'cosign-legacy',
    id,
    payload: new Uint8Array(),
    signature: new Uint8Array(),
    annotations: {},
  };
}

export function keyTrust(fingerprint: string): KeySignerTrust {
  return {
    kind: 'key',
    key: { name: fingerprint, key: publicKey, fingerprint, algorithm: 'ed25519' },
    requireTlog: false,
    annotations: {},
  };
}

const anchors = {
  name: 'test',
  hasTlogs: true,
  hasCtlogs: true,
  hasTimestampAuthorities: false,
  caOnly: false,
};

/** Certificate trust with an exact subject or a (test-anchored) subject regexp. */
export function certTrust(
  identity: { subject?: string; subjectRegExp?: string },
  issuer: string,
): CertificateSignerTrust {
  return {
    kind: 'certificate',
    trustedRoot: anchors as unknown as TrustAnchors,
    identity: { ...identity, issuer },
    requireTlog: true,
    annotations: {},
  };
}

/** The fake verifier: a key candidate verifies against the key with its fingerprint, etc. */
export const fakeCheck: CheckSignature = (candidate, trust): SignatureCheck => {
  if (candidate.format !== 'cosign-legacy')
    return { ok: false, code: 'BUNDLE_INVALID', detail: 'not in tests' };
  const a = candidate.annotations;
  switch (trust.kind) {
    case 'key': {
      const fp = a['test/fingerprint'];
      if (fp === undefined) return { ok: false, code: 'SIGNATURE_INVALID', detail: 'no key signature' };
      return fp === trust.key.fingerprint
        ? { ok: true, identity: { kind: 'key', fingerprint: fp }, detail: 'key ok' }
        : { ok: false, code: 'SIGNATURE_INVALID', detail: `signed by ${fp}` };
    }
    case 'certificate': {
      const subject = a['test/subject'];
      const issuer = a['test/issuer'];
      if (subject === undefined || issuer === undefined)
        return { ok: false, code: 'CERTIFICATE_INVALID', detail: 'no certificate' };
      const m = trust.identity;
      const subjectOk =
        m.subject !== undefined
          ? m.subject === subject
          : new RegExp(`^(?:${m.subjectRegExp ?? ''})$`, 'u').test(subject);
      if (!subjectOk) return { ok: false, code: 'IDENTITY_MISMATCH', detail: `subject ${subject}` };
      if (m.issuer !== issuer) return { ok: false, code: 'ISSUER_MISMATCH', detail: `issuer ${issuer}` };
      return {
        ok: true,
        identity: { kind: 'certificate', subject, issuer, certificateFingerprint: `fp-${candidate.id}` },
        detail: 'certificate ok',
      };
    }
  }
};

/** A policy without a file, with key signers named after their fingerprints. */
export function keyPolicy(
  name: string,
  fingerprints: readonly string[],
  extra: Partial<Omit<Policy, 'signers'>> = {},
): Policy {
  const signers: PolicySigner[] = fingerprints.map((fp) => ({
    kind: 'key',
    name: fp,
    key: `${fp}.pub`,
    tlog: 'optional',
    annotations: {},
  }));
  return {
    name,
    images: ['registry.example/**'],
    signers,
    threshold: signers.length,
    required: [],
    mode: 'enforce',
    matchDockerReference: false,
    isDefault: false,
    allowUnsafeOverlappingSigners: false,
    contentHash: `sha256:${name}`,
    source: `${name}.yaml`,
    ...extra,
  };
}

/** Binds each signer by name to the trust the test gives (key signers default to their fingerprint). */
export function bind(policy: Policy, trust: Readonly<Record<string, SignerTrust>> = {}): BoundPolicy {
  const map = new Map<string, SignerTrust>();
  for (const s of policy.signers) map.set(s.name, trust[s.name] ?? keyTrust(s.name));
  return { policy, trust: map };
}

/** A resolver over in-memory keys and trust roots. */
export function memoryResolver(
  keys: Readonly<Record<string, string>>,
  roots: Readonly<Record<string, { caOnly: boolean; hasTlogs: boolean }>>,
): PolicyResolver {
  return {
    keyExists: (n) => Object.hasOwn(keys, n),
    keyFingerprint: (n) => (Object.hasOwn(keys, n) ? keys[n] : undefined),
    trustRoot: (n) => (Object.hasOwn(roots, n) ? roots[n] : undefined),
  };
}
