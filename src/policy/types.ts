/**
 * The policy model: what a validated policy file (or an ad-hoc policy built from CLI flags) says.
 * Every value here has been through the strict parser; nothing downstream re-validates it.
 */

export type PolicyMode = 'enforce' | 'warn';
export type TlogRequirement = 'required' | 'optional';
/** `repository`: the payload's docker-reference must name the image's repository (cosign ignores it). */
export type DockerReferenceMatch = false | 'repository';

/** One signer of a policy: exactly one kind of trust. */
export type PolicySigner = KeySigner | KeylessSigner | CertificateSigner;

interface SignerBase {
  readonly name: string;
  readonly tlog: TlogRequirement;
  /** key=value pairs the signed payload's `optional` section must carry. */
  readonly annotations: Readonly<Record<string, string>>;
}

/** A public key file in keys/. */
export interface KeySigner extends SignerBase {
  readonly kind: 'key';
  /** File name in keys/. */
  readonly key: string;
  /** Trust root whose Rekor keys check the SET; needed when `tlog: required`. */
  readonly trustRoot?: string;
}

/** A string matched exactly, or an anchored regular expression (`^(?:...)$` is added by the verifier). */
export type StringMatcher = { readonly exact: string } | { readonly regexp: string };

/** Fulcio-style certificate: identity (SAN) and OIDC issuer, optional GitHub workflow claims. */
export interface KeylessSigner extends SignerBase {
  readonly kind: 'keyless';
  readonly trustRoot: string;
  readonly identity: StringMatcher;
  readonly issuer: StringMatcher;
  readonly githubWorkflowRepository?: string;
  readonly githubWorkflowRef?: string;
  readonly githubWorkflowName?: string;
  readonly githubWorkflowTrigger?: string;
  readonly githubWorkflowSha?: string;
}

/** A certificate from a CA-only (corporate) trust root: identity only, no OIDC issuer. */
export interface CertificateSigner extends SignerBase {
  readonly kind: 'certificate';
  readonly trustRoot: string;
  readonly identity: StringMatcher;
}

export interface Policy {
  readonly name: string;
  /** Glob patterns over `registry/repository` (see glob.ts). Empty only for a default policy. */
  readonly images: readonly string[];
  readonly signers: readonly PolicySigner[];
  readonly threshold: number;
  /** Signer names that must be satisfied whatever the threshold. */
  readonly required: readonly string[];
  readonly mode: PolicyMode;
  readonly matchDockerReference: DockerReferenceMatch;
  /** Used when no policy's images match the image. */
  readonly isDefault: boolean;
  readonly allowUnsafeOverlappingSigners: boolean;
  /** `sha256:<hex>` of the file's exact bytes (or of the ad-hoc description). */
  readonly contentHash: string;
  /** Where the policy came from: the file name, or `ad-hoc`. */
  readonly source: string;
}

/** What a trust root offers, as far as load-time checks care. */
export interface TrustRootInfo {
  readonly caOnly: boolean;
  readonly hasTlogs: boolean;
}

/**
 * Load-time knowledge about keys and trust roots, injected so that the parser touches no files.
 * `keyFingerprint` (sha256 over the SPKI) lets the overlap check catch one key under two names.
 */
export interface PolicyResolver {
  keyExists(name: string): boolean;
  keyFingerprint?(name: string): string | undefined;
  trustRoot(name: string): TrustRootInfo | undefined;
}

/** One problem found in a policy: `file:line: field: message`. */
export interface PolicyProblem {
  readonly file: string;
  /** 1-based; absent when the problem has no place in a file (ad-hoc policies, whole-set checks). */
  readonly line?: number;
  /** Dotted path of the field, e.g. `signers[1].keyless.identity`; empty for the whole document. */
  readonly field: string;
  readonly message: string;
}

export function formatProblem(p: PolicyProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  return p.field === '' ? `${where}: ${p.message}` : `${where}: ${p.field}: ${p.message}`;
}
