/**
 * Certificate identity checks. Plain strings are compared exactly; regular expressions are always
 * anchored here (`^(?:...)$`), because @sigstore/verify would treat any string as an unanchored
 * pattern (DESIGN.md, "Keyless checks").
 */
import type { Signer } from '@sigstore/verify';
import { CountersignError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import type { IdentityMatcher, SigningIdentity } from './types.ts';
import { anchoredRegExp as compileAnchored } from './regexp.ts';
import type { AnchoredPattern } from './regexp.ts';

/** Compiles a user-supplied pattern anchored at both ends (RE2, linear time); a bad pattern is a usage error. */
export function anchoredRegExp(pattern: string, what: string): AnchoredPattern {
  try {
    return compileAnchored(pattern);
  } catch (e: unknown) {
    throw new CountersignError('USAGE', `${what}: invalid regular expression (${(e as Error).message})`);
  }
}

function matches(
  value: string | undefined,
  exact: string | undefined,
  pattern: string | undefined,
  what: string,
): boolean {
  if (exact !== undefined && value !== exact) return false;
  if (pattern !== undefined && (value === undefined || !anchoredRegExp(pattern, what).test(value)))
    return false;
  return true;
}

// Fulcio's GitHub workflow extensions (v1 OIDs, as cosign's --certificate-github-workflow-* check).
const WORKFLOW_OIDS = {
  githubWorkflowTrigger: '1.3.6.1.4.1.57264.1.2',
  githubWorkflowSha: '1.3.6.1.4.1.57264.1.3',
  githubWorkflowName: '1.3.6.1.4.1.57264.1.4',
  githubWorkflowRepository: '1.3.6.1.4.1.57264.1.5',
  githubWorkflowRef: '1.3.6.1.4.1.57264.1.6',
} as const;

export function matchIdentity(
  m: IdentityMatcher,
  id: SigningIdentity,
  signer: Signer,
  requireIssuer: boolean,
): { code: ErrorCode; detail: string } | undefined {
  if (id.kind !== 'certificate') return { code: 'IDENTITY_MISMATCH', detail: 'not a certificate identity' };
  if (m.subject === undefined && m.subjectRegExp === undefined) {
    return {
      code: 'IDENTITY_MISMATCH',
      detail: 'no certificate identity was configured; one is always required',
    };
  }
  if (!matches(id.subject, m.subject, m.subjectRegExp, 'certificate identity regexp')) {
    return {
      code: 'IDENTITY_MISMATCH',
      detail: `certificate identity "${id.subject}" does not match ${m.subject !== undefined ? `"${m.subject}"` : `/^(?:${m.subjectRegExp ?? ''})$/`}`,
    };
  }
  if (requireIssuer && m.issuer === undefined && m.issuerRegExp === undefined) {
    return {
      code: 'ISSUER_MISMATCH',
      detail: 'no OIDC issuer was configured; one is required under a Fulcio-style trust root',
    };
  }
  if (!matches(id.issuer, m.issuer, m.issuerRegExp, 'certificate OIDC issuer regexp')) {
    return {
      code: 'ISSUER_MISMATCH',
      detail: `certificate OIDC issuer "${id.issuer ?? '(none)'}" does not match ${m.issuer !== undefined ? `"${m.issuer}"` : `/^(?:${m.issuerRegExp ?? ''})$/`}`,
    };
  }
  for (const [field, oid] of Object.entries(WORKFLOW_OIDS) as [keyof typeof WORKFLOW_OIDS, string][]) {
    const want = m[field];
    if (want === undefined) continue;
    const ext = signer.identity?.oids?.find((o) => o.oid?.id.join('.') === oid);
    const got = ext === undefined ? undefined : Buffer.from(ext.value).toString('utf8');
    if (got !== want) {
      return {
        code: 'IDENTITY_MISMATCH',
        detail: `certificate ${field} "${got ?? '(none)'}" is not "${want}"`,
      };
    }
  }
  return undefined;
}
