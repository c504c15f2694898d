/**
 * Ad-hoc policies: the CLI's `--key`, `--certificate-identity`, `--threshold`, `-a` flags become a
 * Policy evaluated by the same code as policy files, held to the same load-time checks.
 */
import { policyContentHash, invalid } from './parse.ts';
import { policyProblems } from './checks.ts';
import type {
  DockerReferenceMatch,
  KeylessSigner,
  Policy,
  PolicyResolver,
  PolicySigner,
  StringMatcher,
  TlogRequirement,
  TrustRootInfo,
} from './types.ts';

/** A loaded key as far as the policy cares: PublicKeyMaterial fits. */
export interface AdHocKey {
  readonly name: string;
  readonly fingerprint: string;
}

export interface AdHocKeyless {
  readonly name?: string;
  readonly trustRoot: string;
  readonly identity: StringMatcher;
  /** Absent: a certificate signer on a CA-only root (no OIDC issuer). */
  readonly issuer?: StringMatcher;
  readonly github?: Partial<
    Pick<
      KeylessSigner,
      | 'githubWorkflowRepository'
      | 'githubWorkflowRef'
      | 'githubWorkflowName'
      | 'githubWorkflowTrigger'
      | 'githubWorkflowSha'
    >
  >;
}

export interface AdHocOptions {
  readonly keys?: readonly AdHocKey[];
  readonly certificates?: readonly AdHocKeyless[];
  /** Default: every signer. */
  readonly threshold?: number;
  readonly required?: readonly string[];
  /** Every signer's payload must carry these. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Applies to key signers (default optional); certificate signers follow the file defaults. */
  readonly tlog?: TlogRequirement;
  /** Trust root for key signers' Rekor entries. */
  readonly keyTrustRoot?: string;
  readonly matchDockerReference?: DockerReferenceMatch;
  readonly allowUnsafeOverlappingSigners?: boolean;
  /** What the named trust roots offer (TrustAnchors fits); unknown names are problems. */
  readonly trustRoot?: (name: string) => TrustRootInfo | undefined;
}

export const AD_HOC_SOURCE = 'ad-hoc';

/** A policy from flags, or CountersignError('POLICY_INVALID') naming every problem. */
export function adHocPolicy(options: AdHocOptions): Policy {
  const keys = options.keys ?? [];
  const annotations = sortedRecord(options.annotations ?? {});
  const signers: PolicySigner[] = [];
  for (const k of keys) {
    const tlog = options.tlog ?? 'optional';
    signers.push(
      options.keyTrustRoot === undefined
        ? { kind: 'key', name: k.name, key: k.name, tlog, annotations }
        : { kind: 'key', name: k.name, key: k.name, trustRoot: options.keyTrustRoot, tlog, annotations },
    );
  }
  (options.certificates ?? []).forEach((c, i) => {
    const name = c.name ?? `certificate-${i + 1}`;
    if (c.issuer === undefined) {
      signers.push({
        kind: 'certificate',
        name,
        trustRoot: c.trustRoot,
        identity: c.identity,
        tlog: 'optional',
        annotations,
      });
    } else {
      signers.push({
        kind: 'keyless',
        name,
        trustRoot: c.trustRoot,
        identity: c.identity,
        issuer: c.issuer,
        ...c.github,
        tlog: 'required',
        annotations,
      });
    }
  });
  const draft: Omit<Policy, 'contentHash'> = {
    name: AD_HOC_SOURCE,
    images: ['**'],
    signers,
    threshold: options.threshold ?? signers.length,
    required: options.required ?? [],
    mode: 'enforce',
    matchDockerReference: options.matchDockerReference ?? false,
    isDefault: true,
    allowUnsafeOverlappingSigners: options.allowUnsafeOverlappingSigners ?? false,
    source: AD_HOC_SOURCE,
  };
  const fingerprints = new Map(keys.map((k) => [k.name, k.fingerprint]));
  const resolver: PolicyResolver = {
    keyExists: (name) => fingerprints.has(name),
    keyFingerprint: (name) => fingerprints.get(name),
    trustRoot: (name) => options.trustRoot?.(name),
  };
  const problems = policyProblems(draft, resolver, () => undefined);
  if (signers.length === 0)
    problems.unshift({ file: AD_HOC_SOURCE, field: 'signers', message: 'no key or certificate given' });
  if (problems.length > 0) throw invalid(problems);
  // The recorded version of an ad-hoc policy: a hash over its canonical description.
  const hash = policyContentHash(new TextEncoder().encode(JSON.stringify(draft)));
  return { ...draft, contentHash: hash };
}

function sortedRecord(record: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) {
    const value = record[key];
    if (value !== undefined) Object.defineProperty(out, key, { value, enumerable: true });
  }
  return out;
}
