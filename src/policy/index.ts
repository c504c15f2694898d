/** N-of-M signer policies: parsing, load-time checks, selection and evaluation. Pure; no I/O. */
export type {
  CertificateSigner,
  DockerReferenceMatch,
  KeySigner,
  KeylessSigner,
  Policy,
  PolicyMode,
  PolicyProblem,
  PolicyResolver,
  PolicySigner,
  StringMatcher,
  TlogRequirement,
  TrustRootInfo,
} from './types.ts';
export { formatProblem } from './types.ts';
export { MAX_IMAGE_PATTERN_LENGTH, imagePatternProblem, matchImagePattern } from './glob.ts';
export { anchoredRegExp, matchersMayOverlap, signersOverlap } from './overlap.ts';
export type { PolicyLint } from './parse.ts';
export {
  MAX_POLICY_BYTES,
  MAX_POLICY_NESTING,
  MAX_POLICY_SIGNERS,
  lintPolicy,
  parsePolicy,
  policyContentHash,
} from './parse.ts';
export type { PolicyFile, PolicySelection, PolicySetLint } from './policy-set.ts';
export { lintPolicySet, loadPolicySet, selectPolicies } from './policy-set.ts';
export type { Matching, MatchingInput } from './matching.ts';
export { maximumMatching } from './matching.ts';
export type {
  BoundPolicy,
  CheckSignature,
  Decision,
  EvaluationInput,
  MayBelong,
  PolicyOutcome,
  SignerOutcome,
  SignerReason,
} from './evaluate.ts';
export { evaluatePolicies } from './evaluate.ts';
export type { AdHocKey, AdHocKeyless, AdHocOptions } from './ad-hoc.ts';
export { AD_HOC_SOURCE, adHocPolicy } from './ad-hoc.ts';
