/** countersign-cosign, the cosign drop-in: public face. */
export { runCosignShim, DEFAULT_TIMEOUT_MS, DEFAULT_URL } from './cosign.ts';
export type { ShimIO } from './cosign.ts';
export { parseCosignArgs, parseDuration } from './args.ts';
export type { ShimCommand, TrustFlags, VerifyCommand } from './args.ts';
export { findPolicyRule, parsePolicyMap, selectPolicy } from './policy-map.ts';
export type { PolicyMapRule, PolicySelection } from './policy-map.ts';
export { parseDecision, postVerify } from './client.ts';
export type { ApplianceDecision, VerifyOutcome, VerifyRequestBody, VerifyRequirements } from './client.ts';
export { keyFingerprint, requirementsFromFlags } from './require.ts';
