/**
 * A directory's worth of policies: each file parsed on its own, then the checks that span files
 * (unique policy names, at most one default), and the selection of the policies an image falls under.
 */
import { matchImagePattern } from './glob.ts';
import { invalid, lintPolicy } from './parse.ts';
import type { Policy, PolicyProblem, PolicyResolver } from './types.ts';

export interface PolicyFile {
  /** File name as it should appear in problems (e.g. `policies/radiology.yaml`). */
  readonly file: string;
  readonly bytes: Uint8Array;
}

export interface PolicySetLint {
  /** The valid policies (all of them only when problems is empty). */
  readonly policies: readonly Policy[];
  readonly problems: readonly PolicyProblem[];
}

export function lintPolicySet(files: readonly PolicyFile[], resolver: PolicyResolver): PolicySetLint {
  const policies: Policy[] = [];
  const problems: PolicyProblem[] = [];
  for (const f of [...files].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
    const result = lintPolicy(f.file, f.bytes, resolver);
    problems.push(...result.problems);
    if (result.policy !== undefined) policies.push(result.policy);
  }
  const byName = new Map<string, Policy>();
  for (const p of policies) {
    const first = byName.get(p.name);
    if (first !== undefined) {
      problems.push({
        file: p.source,
        field: 'name',
        message: `policy "${p.name}" is also defined in ${first.source}`,
      });
    } else {
      byName.set(p.name, p);
    }
  }
  const defaults = policies.filter((p) => p.isDefault);
  if (defaults.length > 1) {
    for (const p of defaults.slice(1)) {
      const first = defaults[0]?.source ?? '';
      problems.push({
        file: p.source,
        field: 'default',
        message: `a default policy is already defined in ${first}`,
      });
    }
  }
  return { policies, problems };
}

/** Every policy of a set, or CountersignError('POLICY_INVALID') listing every problem. */
export function loadPolicySet(files: readonly PolicyFile[], resolver: PolicyResolver): readonly Policy[] {
  const { policies, problems } = lintPolicySet(files, resolver);
  if (problems.length > 0) throw invalid(problems);
  return policies;
}

export interface PolicySelection<P> {
  readonly selected: readonly P[];
  /** True when no policy matched and the default policy was taken instead. */
  readonly usedDefault: boolean;
}

/**
 * The policies an image falls under: every policy with a matching pattern; if none, the default
 * policy; if there is no default either, nothing (which evaluation turns into NO_MATCHING_POLICY).
 */
export function selectPolicies<P extends { readonly policy: Policy } | Policy>(
  image: string,
  policies: readonly P[],
): PolicySelection<P> {
  const of = (p: P): Policy => ('policy' in p ? p.policy : p);
  const matched = policies.filter((p) => of(p).images.some((pattern) => matchImagePattern(pattern, image)));
  if (matched.length > 0) return { selected: matched, usedDefault: false };
  const fallback = policies.filter((p) => of(p).isDefault);
  return { selected: fallback, usedDefault: fallback.length > 0 };
}
