/**
 * Certificate identities: what a Fulcio-style (or corporate CA) leaf says about its signer, and
 * matching it against an IdentityMatcher. Plain strings match exactly; regular expressions are
 * anchored here (`^(?:...)$`), never handed over raw: `@sigstore/verify` treats a policy string as
 * an unanchored pattern, so `qa@hospital\.example` would also accept `qa@hospital.example.evil.com`.
 */
import { createHash } from 'node:crypto';
import { ASN1Obj, X509Certificate } from '@sigstore/core';
import type { ErrorCode } from '../errors.ts';
import type { IdentityMatcher, SigningIdentity } from '../verify/types.ts';

// Fulcio certificate extensions (sigstore/fulcio docs/oid-info.md).
export const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_GITHUB_WORKFLOW_TRIGGER = '1.3.6.1.4.1.57264.1.2';
const OID_GITHUB_WORKFLOW_SHA = '1.3.6.1.4.1.57264.1.3';
const OID_GITHUB_WORKFLOW_NAME = '1.3.6.1.4.1.57264.1.4';
const OID_GITHUB_WORKFLOW_REPOSITORY = '1.3.6.1.4.1.57264.1.5';
const OID_GITHUB_WORKFLOW_REF = '1.3.6.1.4.1.57264.1.6';
const OID_EKU = '2.5.29.37';
const OID_SAN = '2.5.29.17';
export const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** What a leaf certificate says about who signed. */
export interface CertificateIdentity {
  /** Subject alternative names (email, URI, DNS, ...), in certificate order. */
  readonly subjectAlternativeNames: readonly string[];
  /** OIDC issuer from 1.3.6.1.4.1.57264.1.8, else the legacy 1.3.6.1.4.1.57264.1.1. */
  readonly issuer?: string;
  readonly githubWorkflowTrigger?: string;
  readonly githubWorkflowSha?: string;
  readonly githubWorkflowName?: string;
  readonly githubWorkflowRepository?: string;
  readonly githubWorkflowRef?: string;
  readonly codeSigning: boolean;
  /** sha256 hex over the DER certificate. */
  readonly fingerprint: string;
}

/** The whole-string form of a user-supplied pattern (RE2, linear time). Throws on a bad pattern. */
export { anchoredRegExp } from '../verify/regexp.ts';
import { anchoredRegExp } from '../verify/regexp.ts';
import type { AnchoredPattern } from '../verify/regexp.ts';

/** Reads the identity fields of a DER leaf certificate (RFC 5280 section 4.2.1.6 and 4.2.1.12). */
export function certificateIdentity(der: Uint8Array): CertificateIdentity {
  const cert = X509Certificate.parse(Buffer.from(der));
  const issuerV2 = extensionValue(cert, OID_FULCIO_ISSUER_V2);
  const identity: Record<string, unknown> = {
    subjectAlternativeNames: subjectAlternativeNames(extensionValue(cert, OID_SAN)),
    codeSigning: extendedKeyUsages(extensionValue(cert, OID_EKU)).includes(OID_CODE_SIGNING),
    fingerprint: createHash('sha256').update(der).digest('hex'),
  };
  const issuer =
    issuerV2 !== undefined ? derUtf8String(issuerV2) : rawString(extensionValue(cert, OID_FULCIO_ISSUER_V1));
  if (issuer !== undefined) identity['issuer'] = issuer;
  const legacy: [string, string][] = [
    ['githubWorkflowTrigger', OID_GITHUB_WORKFLOW_TRIGGER],
    ['githubWorkflowSha', OID_GITHUB_WORKFLOW_SHA],
    ['githubWorkflowName', OID_GITHUB_WORKFLOW_NAME],
    ['githubWorkflowRepository', OID_GITHUB_WORKFLOW_REPOSITORY],
    ['githubWorkflowRef', OID_GITHUB_WORKFLOW_REF],
  ];
  for (const [field, oid] of legacy) {
    const v = rawString(extensionValue(cert, oid));
    if (v !== undefined) identity[field] = v;
  }
  return identity as unknown as CertificateIdentity;
}

/** GeneralNames: rfc822Name [1], dNSName [2] and uniformResourceIdentifier [6] as text. */
function subjectAlternativeNames(value: Buffer | undefined): string[] {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const gn of ASN1Obj.parseBuffer(Buffer.from(value)).subs) {
    if (gn.tag.isContextSpecific(1) || gn.tag.isContextSpecific(2) || gn.tag.isContextSpecific(6)) {
      names.push(gn.value.toString('utf8'));
    }
  }
  return names;
}

/** ExtKeyUsageSyntax: SEQUENCE OF KeyPurposeId (OIDs). */
function extendedKeyUsages(value: Buffer | undefined): string[] {
  if (value === undefined) return [];
  return ASN1Obj.parseBuffer(Buffer.from(value)).subs.map((o) => o.toOID());
}

export type IdentityMatch =
  | { readonly ok: true; readonly identity: SigningIdentity }
  | { readonly ok: false; readonly code: ErrorCode; readonly detail: string };

/**
 * Checks a certificate identity against a matcher. A matcher must constrain the subject (exactly
 * or by pattern); the issuer is checked whenever the matcher names one (CA-only roots may not).
 */
export function matchIdentity(cert: CertificateIdentity, matcher: IdentityMatcher): IdentityMatch {
  const subjectTest = subjectTester(matcher);
  if (subjectTest === undefined) {
    return { ok: false, code: 'IDENTITY_MISMATCH', detail: 'no certificate identity to match was given' };
  }
  if (typeof subjectTest === 'string') return { ok: false, code: 'IDENTITY_MISMATCH', detail: subjectTest };
  const subject = cert.subjectAlternativeNames.find((n) => subjectTest(n));
  if (subject === undefined) {
    return {
      ok: false,
      code: 'IDENTITY_MISMATCH',
      detail: `certificate identity ${JSON.stringify(cert.subjectAlternativeNames)} does not match ${describeSubject(matcher)}`,
    };
  }
  if (matcher.issuer !== undefined || matcher.issuerRegExp !== undefined) {
    let issuerOk: boolean;
    if (matcher.issuer !== undefined) issuerOk = cert.issuer === matcher.issuer;
    else {
      const re = tryAnchored(matcher.issuerRegExp ?? '');
      if (typeof re === 'string') return { ok: false, code: 'ISSUER_MISMATCH', detail: re };
      issuerOk = cert.issuer !== undefined && re.test(cert.issuer);
    }
    if (!issuerOk) {
      const expected = matcher.issuer ?? `/${matcher.issuerRegExp ?? ''}/`;
      return {
        ok: false,
        code: 'ISSUER_MISMATCH',
        detail: `certificate OIDC issuer ${JSON.stringify(cert.issuer ?? null)} does not match ${JSON.stringify(expected)}`,
      };
    }
  }
  const exactFields = [
    ['githubWorkflowTrigger', matcher.githubWorkflowTrigger, cert.githubWorkflowTrigger],
    ['githubWorkflowSha', matcher.githubWorkflowSha, cert.githubWorkflowSha],
    ['githubWorkflowName', matcher.githubWorkflowName, cert.githubWorkflowName],
    ['githubWorkflowRepository', matcher.githubWorkflowRepository, cert.githubWorkflowRepository],
    ['githubWorkflowRef', matcher.githubWorkflowRef, cert.githubWorkflowRef],
  ] as const;
  for (const [field, expected, actual] of exactFields) {
    if (expected !== undefined && expected !== actual) {
      return {
        ok: false,
        code: 'IDENTITY_MISMATCH',
        detail: `certificate ${field} ${JSON.stringify(actual ?? null)} is not ${JSON.stringify(expected)}`,
      };
    }
  }
  const identity: SigningIdentity =
    cert.issuer === undefined
      ? { kind: 'certificate', subject, certificateFingerprint: cert.fingerprint }
      : { kind: 'certificate', subject, issuer: cert.issuer, certificateFingerprint: cert.fingerprint };
  return { ok: true, identity };
}

function subjectTester(matcher: IdentityMatcher): ((name: string) => boolean) | string | undefined {
  if (matcher.subject !== undefined) {
    const expected = matcher.subject;
    return (name) => name === expected;
  }
  if (matcher.subjectRegExp !== undefined) {
    const re = tryAnchored(matcher.subjectRegExp);
    if (typeof re === 'string') return re;
    return (name) => re.test(name);
  }
  return undefined;
}

function tryAnchored(pattern: string): AnchoredPattern | string {
  try {
    return anchoredRegExp(pattern);
  } catch {
    return `invalid regular expression ${JSON.stringify(pattern)}`;
  }
}

function describeSubject(m: IdentityMatcher): string {
  return m.subject !== undefined ? JSON.stringify(m.subject) : `/${m.subjectRegExp ?? ''}/ (anchored)`;
}

function extensionValue(cert: X509Certificate, oid: string): Buffer | undefined {
  return cert.extension(oid)?.value;
}

function rawString(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value).toString('utf8');
}

/** Decodes a DER UTF8String (tag 0x0c), as Fulcio writes extension 1.3.6.1.4.1.57264.1.8. */
function derUtf8String(value: Uint8Array): string | undefined {
  if (value.length < 2 || value[0] !== 0x0c) return undefined;
  const first = value[1] ?? 0;
  let length = first;
  let offset = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 3 || value.length < 2 + n) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (value[2 + i] ?? 0);
    offset = 2 + n;
  }
  if (offset + length !== value.length) return undefined;
  return Buffer.from(value.subarray(offset)).toString('utf8');
}
