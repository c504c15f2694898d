/**
 * Load-time checks on a structurally valid policy: counts, names, the keys and trust roots it refers
 * to (through the injected resolver), and signers one identity could satisfy twice. Shared by policy
 * files and ad-hoc policies so both are held to the same rules.
 */
import { signersOverlap } from './overlap.ts';
import type { Policy, PolicyProblem, PolicyResolver, PolicySigner } from './types.ts';

/** Line of a field in the source, when there is a source. */
export type Locate = (field: string) => number | undefined;

export function policyProblems(
  policy: Omit<Policy, 'contentHash'>,
  resolver: PolicyResolver,
  locate: Locate,
): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const add = (field: string, message: string): void => {
    const line = locate(field);
    problems.push(
      line === undefined
        ? { file: policy.source, field, message }
        : { file: policy.source, line, field, message },
    );
  };

  const names = new Set<string>();
  policy.signers.forEach((s, i) => {
    if (names.has(s.name)) add(`signers[${i}].name`, `duplicate signer name "${s.name}"`);
    names.add(s.name);
    signerTrustProblems(s, `signers[${i}]`, resolver, add);
  });

  if (policy.signers.length > 0 && (policy.threshold < 1 || policy.threshold > policy.signers.length)) {
    add(
      'threshold',
      `must be between 1 and the number of signers (${policy.signers.length}), got ${policy.threshold}`,
    );
  }
  const seenRequired = new Set<string>();
  policy.required.forEach((r, i) => {
    if (!names.has(r)) add(`required[${i}]`, `unknown signer "${r}"`);
    if (seenRequired.has(r)) add(`required[${i}]`, `"${r}" listed twice`);
    seenRequired.add(r);
  });

  if (!policy.allowUnsafeOverlappingSigners) {
    const fingerprint = (name: string): string | undefined => resolver.keyFingerprint?.(name);
    for (let i = 0; i < policy.signers.length; i++) {
      for (let j = i + 1; j < policy.signers.length; j++) {
        const a = policy.signers[i];
        const b = policy.signers[j];
        if (a === undefined || b === undefined) continue;
        const why = signersOverlap(a, b, fingerprint);
        if (why !== undefined) {
          add(
            `signers[${j}]`,
            `signers "${a.name}" and "${b.name}" could be satisfied by one identity (${why}); ` +
              'set allowUnsafeOverlappingSigners: true to accept this',
          );
        }
      }
    }
  }
  return problems;
}

function signerTrustProblems(
  s: PolicySigner,
  at: string,
  resolver: PolicyResolver,
  add: (field: string, message: string) => void,
): void {
  switch (s.kind) {
    case 'key': {
      if (!resolver.keyExists(s.key)) add(`${at}.key`, `unknown key "${s.key}" (not in keys/)`);
      if (s.trustRoot !== undefined) {
        const root = resolver.trustRoot(s.trustRoot);
        if (root === undefined)
          add(`${at}.trustRoot`, `unknown trust root "${s.trustRoot}" (not in trust-root/)`);
        else if (s.tlog === 'required' && !root.hasTlogs)
          add(`${at}.tlog`, `required, but trust root "${s.trustRoot}" has no transparency log`);
      } else if (s.tlog === 'required') {
        add(`${at}.tlog`, 'required needs trustRoot (whose Rekor keys check the entry) on a key signer');
      }
      return;
    }
    case 'keyless': {
      const root = resolver.trustRoot(s.trustRoot);
      if (root === undefined)
        add(`${at}.keyless.trustRoot`, `unknown trust root "${s.trustRoot}" (not in trust-root/)`);
      else if (root.caOnly)
        add(`${at}.keyless.trustRoot`, `trust root "${s.trustRoot}" is CA-only: use a certificate signer`);
      else if (s.tlog === 'required' && !root.hasTlogs)
        add(`${at}.tlog`, `required, but trust root "${s.trustRoot}" has no transparency log`);
      return;
    }
    case 'certificate': {
      const root = resolver.trustRoot(s.trustRoot);
      if (root === undefined)
        add(`${at}.certificate.trustRoot`, `unknown trust root "${s.trustRoot}" (not in trust-root/)`);
      else if (!root.caOnly)
        add(
          `${at}.certificate.trustRoot`,
          `trust root "${s.trustRoot}" is not CA-only: use a keyless signer`,
        );
      else if (s.tlog === 'required' && !root.hasTlogs)
        add(`${at}.tlog`, `required, but trust root "${s.trustRoot}" has no transparency log`);
      return;
    }
  }
}
