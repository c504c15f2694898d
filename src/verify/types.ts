/**
 * The contract between signature discovery, verification and policy evaluation.
 * Discovery (I/O) produces SignatureCandidates; verification (pure, synchronous) checks one
 * candidate against one signer's trust material; policy evaluation (pure) counts identities.
 */
import type { KeyObject } from 'node:crypto';
import type { TrustMaterial } from '@sigstore/verify';
import type { TrustRoot } from '../trust/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { Digest } from '../oci/types.ts';

/** A signature found for an image, before any check. */
export type SignatureCandidate = LegacyCosignSignature | BundleSignature;

/** A cosign "simple signing" layer of a `sha256-<hex>.sig` manifest. */
export interface LegacyCosignSignature {
  readonly format: 'cosign-legacy';
  /** Stable label for output: `sha256-<hex>.sig#<layer index>`. */
  readonly id: string;
  /** The exact signed payload bytes (the layer blob). */
  readonly payload: Uint8Array;
  /** The raw signature bytes (base64-decoded annotation). */
  readonly signature: Uint8Array;
  /** All layer annotations as written. */
  readonly annotations: Readonly<Record<string, string>>;
  /** PEM leaf certificate (keyless), if present. */
  readonly certificatePem?: string;
  /** PEM chain, if present (never trusted as a root). */
  readonly chainPem?: string;
  /** `dev.sigstore.cosign/bundle` JSON text (Rekor SET), if present. */
  readonly rekorBundle?: string;
  /** `dev.sigstore.cosign/rfc3161timestamp` JSON text, if present. */
  readonly rfc3161Timestamp?: string;
  /**
   * The layer digest the signature image's config recorded (`rootfs.diff_ids`, cosign >= 2),
   * when present: evidence for telling a replaced payload from a signature by another key.
   */
  readonly recordedDigest?: Digest;
}

/** A Sigstore bundle found through the referrers API or its fallback tag. */
export interface BundleSignature {
  readonly format: 'bundle';
  readonly id: string;
  /** The bundle JSON text. */
  readonly bundleJson: string;
  /** The referrer manifest's artifactType, as found (informational only). */
  readonly artifactType?: string;
}

/** Who made a verified signature; the unit a threshold counts. */
export type SigningIdentity =
  | { readonly kind: 'key'; readonly fingerprint: string }
  | {
      readonly kind: 'certificate';
      readonly subject: string;
      /** OIDC issuer, absent for CA-only corporate roots. */
      readonly issuer?: string;
      /** sha256 fingerprint of the leaf, informational. */
      readonly certificateFingerprint: string;
    };

/** Stable string for a SigningIdentity: equal strings mean the same identity. */
export function identityKey(id: SigningIdentity): string {
  switch (id.kind) {
    case 'key':
      return `key:${id.fingerprint}`;
    case 'certificate':
      return `cert:${JSON.stringify([id.subject, id.issuer ?? null])}`;
  }
}

/** A loaded public key. */
export interface PublicKeyMaterial {
  /** Name for output: the file name or signer name. */
  readonly name: string;
  readonly key: KeyObject;
  /** sha256 hex over the SubjectPublicKeyInfo DER. */
  readonly fingerprint: string;
  readonly algorithm: 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa' | 'ed25519';
}

/** Fulcio's GitHub workflow claims a certificate signer may pin (cosign --certificate-github-workflow-*). */
export const GITHUB_WORKFLOW_CLAIMS = [
  'githubWorkflowRepository',
  'githubWorkflowRef',
  'githubWorkflowName',
  'githubWorkflowTrigger',
  'githubWorkflowSha',
] as const;

/** How a certificate's identity must look. Plain strings are exact; regexps are anchored by us. */
export interface IdentityMatcher {
  readonly subject?: string;
  readonly subjectRegExp?: string;
  readonly issuer?: string;
  readonly issuerRegExp?: string;
  readonly githubWorkflowRepository?: string;
  readonly githubWorkflowRef?: string;
  readonly githubWorkflowName?: string;
  readonly githubWorkflowTrigger?: string;
  readonly githubWorkflowSha?: string;
}

/** What one signer of a policy requires of a signature. */
export type SignerTrust = KeySignerTrust | CertificateSignerTrust;

export interface KeySignerTrust {
  readonly kind: 'key';
  readonly key: PublicKeyMaterial;
  /** Require a Rekor SET verified against `trustedRoot`. */
  readonly requireTlog: boolean;
  /** Trust root whose Rekor keys check SETs (required when requireTlog). */
  readonly trustedRoot?: TrustAnchors;
  /** key=value pairs the payload's `optional` section must carry. */
  readonly annotations: Readonly<Record<string, string>>;
  /** The payload's docker-reference must name the image's repository (policy option, off by default). */
  readonly matchDockerReference?: boolean;
}

export interface CertificateSignerTrust {
  readonly kind: 'certificate';
  /** Trust root the certificate must chain to (Fulcio-style or CA-only). */
  readonly trustedRoot: TrustAnchors;
  readonly identity: IdentityMatcher;
  readonly requireTlog: boolean;
  readonly annotations: Readonly<Record<string, string>>;
  readonly matchDockerReference?: boolean;
}

/** The outcome of checking one signature against one signer. */
export type SignatureCheck =
  | { readonly ok: true; readonly identity: SigningIdentity; readonly detail: string }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string };

/** Everything verification needs to know about the image, besides the signature. */
export interface VerificationSubject {
  /** The resolved manifest digest the signature must name. */
  readonly digest: Digest;
  /** Normalised repository (`registry/repository`), for docker-reference matching when asked. */
  readonly repository?: string;
}

/**
 * Verification-ready trust material of one trust root (built by src/trust from a trusted_root.json,
 * or from PEM files). `caOnly`: certificate authorities and nothing else (corporate PKI): certificates
 * are then checked at the current time, since no log or timestamp authority can vouch for a past one.
 */
export interface TrustAnchors {
  readonly name: string;
  /** The validated trusted root, when the anchors came from one (bundle verification needs it). */
  readonly root?: TrustRoot;
  readonly material: TrustMaterial;
  readonly hasTlogs: boolean;
  readonly hasCtlogs: boolean;
  readonly hasTimestampAuthorities: boolean;
  readonly caOnly: boolean;
}
