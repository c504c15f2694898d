/** Sigstore bundle verification: artifact binding, trust root checks, identity matching. */
export type { BundleArtifact, VerifyBundleOptions } from './verify-bundle.ts';
export { verifyBundle } from './verify-bundle.ts';
export type { CertificateIdentity, IdentityMatch } from './identity.ts';
export { anchoredRegExp, certificateIdentity, matchIdentity } from './identity.ts';
export type { DigestVerification } from './digest-signature.ts';
export { verifySha256DigestSignature } from './digest-signature.ts';
