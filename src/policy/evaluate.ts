/**
 * Policy evaluation: pure and synchronous. Given the image, its signature candidates (discovered
 * once) and the policies with trust material bound to their signers, decide allow or deny.
 *
 * N of M counts distinct signing identities, never signatures (DESIGN.md "Policies: N of M"): each
 * verified signature yields an identity; an identity may satisfy at most one signer; identities are
 * assigned to signers by a maximum matching that covers the required signers whenever possible
 * (matching.ts), so the answer does not depend on the order signatures or signers come in.
 */
import type { ErrorCode } from '../errors.ts';
import { CountersignError, toCountersignError } from '../errors.ts';
import type { Digest } from '../oci/types.ts';
import type { SignatureCandidate, SignatureCheck, SignerTrust, SigningIdentity } from '../verify/types.ts';
import { identityKey } from '../verify/types.ts';
import { maximumMatching } from './matching.ts';
import { selectPolicies } from './policy-set.ts';
import type { Policy, PolicyMode } from './types.ts';

/** A policy whose signers have their trust material loaded (by signer name; built by the caller). */
export interface BoundPolicy {
  readonly policy: Policy;
  readonly trust: ReadonlyMap<string, SignerTrust>;
}

/** Checks one candidate against one signer (src/verify). Must be pure; a throw counts as a failure. */
export type CheckSignature = (candidate: SignatureCandidate, signer: SignerTrust) => SignatureCheck;
/** Cheap prefilter (key hint, certificate issuer): false means the candidate cannot be this signer's. */
export type MayBelong = (candidate: SignatureCandidate, signer: SignerTrust) => boolean;

export interface EvaluationInput {
  /** Normalised `registry/repository` the policies' patterns are matched against. */
  readonly image: string;
  readonly digest: Digest;
  readonly candidates: readonly SignatureCandidate[];
  /** All loaded policies (or a preselection); evaluation selects those matching `image`. */
  readonly policies: readonly BoundPolicy[];
  readonly check: CheckSignature;
  readonly mayBelong?: MayBelong;
}

export interface SignerReason {
  /** The signature the reason is about; null when it is about the absence of signatures. */
  readonly signatureId: string | null;
  readonly code: ErrorCode;
  readonly detail: string;
}

export interface SignerOutcome {
  readonly name: string;
  readonly required: boolean;
  readonly satisfied: boolean;
  readonly by: {
    readonly signatureId: string;
    readonly identity: SigningIdentity;
    readonly identityKey: string;
  } | null;
  readonly reasons: readonly SignerReason[];
}

export interface PolicyOutcome {
  readonly name: string;
  readonly contentHash: string;
  readonly source: string;
  readonly mode: PolicyMode;
  readonly passed: boolean;
  /** Why it failed; null when it passed. */
  readonly code: ErrorCode | null;
  readonly satisfied: number;
  readonly threshold: number;
  readonly required: readonly string[];
  /** `allowed: ...` or `denied: ...`, about this policy alone, whatever its mode. */
  readonly explanation: string;
  readonly signers: readonly SignerOutcome[];
}

export interface Decision {
  readonly allowed: boolean;
  /** The reason code of a denial (or of what warn mode would have denied); null for a clean allow. */
  readonly code: ErrorCode | null;
  readonly explanation: string;
  readonly image: string;
  readonly digest: Digest;
  readonly usedDefaultPolicy: boolean;
  readonly policies: readonly PolicyOutcome[];
  /** What warn-mode policies would have denied. */
  readonly warnings: readonly string[];
  /** How many (candidate, signer) checks ran: for benchmarks and the N×M budget. */
  readonly checksRun: number;
}

export function evaluatePolicies(input: EvaluationInput): Decision {
  const { selected, usedDefault } = selectPolicies(input.image, input.policies);
  const base = { image: input.image, digest: input.digest, usedDefaultPolicy: usedDefault };
  if (selected.length === 0) {
    return {
      ...base,
      allowed: false,
      code: 'NO_MATCHING_POLICY',
      explanation: `denied: no policy matches ${input.image} and there is no default policy`,
      policies: [],
      warnings: [],
      checksRun: 0,
    };
  }

  // Signatures in id order, so every tie below is broken the same way whatever the discovery order.
  const candidates = [...input.candidates].sort((a, b) => compare(a.id, b.id));
  const checker = memoisedChecker(input.check);
  const mayBelong = input.mayBelong ?? (() => true);
  const outcomes = [...selected]
    .sort((a, b) => compare(a.policy.name, b.policy.name))
    .map((bound) => evaluatePolicy(bound, candidates, checker.check, mayBelong));

  const failedEnforced = outcomes.filter((o) => !o.passed && o.mode === 'enforce');
  const failedWarned = outcomes.filter((o) => !o.passed && o.mode === 'warn');
  const allowed = failedEnforced.length === 0;
  const code = failedEnforced[0]?.code ?? failedWarned[0]?.code ?? null;
  const warnings = failedWarned.map((o) => `policy ${o.name} (warn mode) would deny: ${o.explanation}`);
  return {
    ...base,
    allowed,
    code,
    explanation: explainDecision(allowed, outcomes),
    policies: outcomes,
    warnings,
    checksRun: checker.count(),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Each (candidate, trust) pair is checked at most once, also across policies sharing a signer. */
function memoisedChecker(check: CheckSignature): { check: CheckSignature; count: () => number } {
  const memo = new Map<SignerTrust, Map<SignatureCandidate, SignatureCheck>>();
  let runs = 0;
  return {
    count: () => runs,
    check: (candidate, trust) => {
      let forTrust = memo.get(trust);
      if (forTrust === undefined) {
        forTrust = new Map();
        memo.set(trust, forTrust);
      }
      const known = forTrust.get(candidate);
      if (known !== undefined) return known;
      runs++;
      let result: SignatureCheck;
      try {
        result = check(candidate, trust);
      } catch (e: unknown) {
        const err = toCountersignError(e);
        result = { ok: false, code: err.code, detail: err.message };
      }
      forTrust.set(candidate, result);
      return result;
    },
  };
}

interface Proof {
  readonly signatureId: string;
  readonly identity: SigningIdentity;
}

function evaluatePolicy(
  bound: BoundPolicy,
  candidates: readonly SignatureCandidate[],
  check: CheckSignature,
  mayBelong: MayBelong,
): PolicyOutcome {
  const { policy } = bound;
  const required = new Set(policy.required);
  const reasons = new Map<string, SignerReason[]>();
  // signer → identity key → the first (by id) signature proving it
  const proofs = new Map<string, Map<string, Proof>>();

  for (const signer of policy.signers) {
    const trust = bound.trust.get(signer.name);
    if (trust === undefined) {
      throw new CountersignError(
        'INTERNAL',
        `policy ${policy.name}: no trust material bound for signer ${signer.name}`,
      );
    }
    const mine: SignerReason[] = [];
    const proven = new Map<string, Proof>();
    let considered = 0;
    for (const c of candidates) {
      if (!mayBelong(c, trust)) continue;
      considered++;
      const result = check(c, trust);
      if (result.ok) {
        const key = identityKey(result.identity);
        if (!proven.has(key)) proven.set(key, { signatureId: c.id, identity: result.identity });
      } else {
        mine.push({ signatureId: c.id, code: result.code, detail: result.detail });
      }
    }
    if (considered === 0) {
      mine.push(
        candidates.length === 0
          ? { signatureId: null, code: 'NO_SIGNATURES', detail: 'no signatures found for the image' }
          : {
              signatureId: null,
              code: 'NOT_APPLICABLE',
              detail: `none of the ${candidates.length} signatures can belong to this signer`,
            },
      );
    }
    reasons.set(signer.name, mine);
    proofs.set(signer.name, proven);
  }

  const edges = new Map<string, ReadonlySet<string>>();
  for (const [name, proven] of proofs) edges.set(name, new Set(proven.keys()));
  const matching = maximumMatching({ signers: policy.signers.map((s) => s.name), required, edges });
  const holderOf = new Map<string, string>();
  for (const [signer, identity] of matching) holderOf.set(identity, signer);

  const signers: SignerOutcome[] = policy.signers.map((s) => {
    const matched = matching.get(s.name);
    const proven = proofs.get(s.name) ?? new Map<string, Proof>();
    const mine = [...(reasons.get(s.name) ?? [])];
    const proof = matched === undefined ? undefined : proven.get(matched);
    if (matched === undefined || proof === undefined) {
      // Verified, but the identity already counts for another signer: one identity, one signer.
      for (const [key, p] of proven) {
        mine.push({
          signatureId: p.signatureId,
          code: 'NOT_APPLICABLE',
          detail: `identity ${key} already counts for signer ${holderOf.get(key) ?? '?'}`,
        });
      }
    }
    return {
      name: s.name,
      required: required.has(s.name),
      satisfied: proof !== undefined,
      by: proof === undefined ? null : { ...proof, identityKey: identityKey(proof.identity) },
      reasons: mine,
    };
  });

  const satisfied = signers.filter((s) => s.satisfied);
  const missingRequired = signers.filter((s) => s.required && !s.satisfied);
  const passed = missingRequired.length === 0 && satisfied.length >= policy.threshold;
  let code: ErrorCode | null = null;
  if (!passed) {
    code =
      candidates.length === 0
        ? 'NO_SIGNATURES'
        : missingRequired.length > 0
          ? 'REQUIRED_SIGNER_MISSING'
          : 'THRESHOLD_NOT_MET';
  }
  return {
    name: policy.name,
    contentHash: policy.contentHash,
    source: policy.source,
    mode: policy.mode,
    passed,
    code,
    satisfied: satisfied.length,
    threshold: policy.threshold,
    required: policy.required,
    explanation: explainPolicy(policy, signers, passed, candidates.length),
    signers,
  };
}

const names = (list: readonly SignerOutcome[]): string => list.map((s) => s.name).join(', ');

/**
 * One line a person can read: `allowed: 2 of 2 signers (vendor-release, hospital-qa)`,
 * `denied: 1 of 2 required signers (missing: hospital-qa)`, `denied: 1 of 2 signers needed (...)`.
 */
function explainPolicy(
  policy: Policy,
  signers: readonly SignerOutcome[],
  passed: boolean,
  found: number,
): string {
  const satisfied = signers.filter((s) => s.satisfied);
  const unsatisfied = signers.filter((s) => !s.satisfied);
  if (passed) {
    const needed = policy.threshold < signers.length ? `, ${policy.threshold} needed` : '';
    return `allowed: ${satisfied.length} of ${signers.length} signers${needed} (${names(satisfied)})`;
  }
  if (found === 0) return `denied: no signatures found (0 of ${policy.threshold} signers needed)`;
  const required = signers.filter((s) => s.required);
  const missingRequired = required.filter((s) => !s.satisfied);
  if (missingRequired.length > 0) {
    const got = required.length - missingRequired.length;
    return `denied: ${got} of ${required.length} required signers (missing: ${names(missingRequired)})`;
  }
  const parts = [
    ...(satisfied.length > 0 ? [`satisfied: ${names(satisfied)}`] : []),
    `not satisfied: ${names(unsatisfied)}`,
  ];
  return `denied: ${satisfied.length} of ${policy.threshold} signers needed (${parts.join('; ')})`;
}

function explainDecision(allowed: boolean, outcomes: readonly PolicyOutcome[]): string {
  const warned = (o: PolicyOutcome): boolean => !o.passed && o.mode === 'warn';
  const only = outcomes.length === 1 ? outcomes[0] : undefined;
  if (only !== undefined) {
    return warned(only) ? `allowed (warn mode, would be ${only.explanation})` : only.explanation;
  }
  const parts = outcomes.map(
    (o) => `${o.name}: ${warned(o) ? `warn mode, would be ${o.explanation}` : o.explanation}`,
  );
  return `${allowed ? 'allowed' : 'denied'} by ${outcomes.length} policies (${parts.join('; ')})`;
}
