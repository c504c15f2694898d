/**
 * cosign's trust flags as the `require` of POST /v1/verify. The appliance resolves them against its
 * own keys and trust roots only, and checks them in addition to the image's policies, so the flags
 * can narrow a decision but never widen it. A key is sent as the sha256 fingerprint of its SPKI
 * (the file named by --key, read here); the appliance answers KEY_INVALID for a key it does not
 * hold. Pure apart from the injected file reader.
 */
import { CountersignError } from '../errors.ts';
import { parsePublicKeyPem } from '../verify/keys.ts';
import type { TrustFlags } from './args.ts';
import type { VerifyRequirements } from './client.ts';

function usage(message: string): CountersignError {
  return new CountersignError('USAGE', message);
}

/** cosign's KMS and hardware key references (`awskms://`, `k8s://`, `pkcs11:`...): not files. */
const KEY_REFERENCE = /^(?:[a-z][a-z0-9+.-]*:\/\/|pkcs11:)/i;

/** The fingerprint the appliance knows a --key file by: sha256 hex over the SPKI DER. */
export function keyFingerprint(file: string, readFile: (path: string) => string): string {
  if (KEY_REFERENCE.test(file)) {
    throw usage(`--key ${file}: KMS and hardware keys are not served here; give the public key file (PEM)`);
  }
  let pem: string;
  try {
    pem = readFile(file);
  } catch {
    throw new CountersignError('KEY_INVALID', `--key ${file}: cannot read the public key file`);
  }
  // KEY_INVALID naming the file when it is not one PEM public key cosign signs with.
  return parsePublicKeyPem(pem, `--key ${file}`).fingerprint;
}

/**
 * The `require` for these flags, or undefined when none is given. Refuses what cosign would refuse
 * too: an issuer without an identity, and an exact value together with its regexp form.
 * `trustRoot` (COUNTERSIGN_TRUST_ROOT) is sent only with an identity, the only thing it applies to.
 */
export function requirementsFromFlags(
  trust: TrustFlags,
  readFile: (path: string) => string,
  trustRoot: string | undefined,
): VerifyRequirements | undefined {
  if (trust.certificateIdentity !== undefined && trust.certificateIdentityRegexp !== undefined)
    throw usage('--certificate-identity and --certificate-identity-regexp are exclusive');
  if (trust.certificateOidcIssuer !== undefined && trust.certificateOidcIssuerRegexp !== undefined)
    throw usage('--certificate-oidc-issuer and --certificate-oidc-issuer-regexp are exclusive');
  const hasIdentity =
    trust.certificateIdentity !== undefined || trust.certificateIdentityRegexp !== undefined;
  const hasIssuer =
    trust.certificateOidcIssuer !== undefined || trust.certificateOidcIssuerRegexp !== undefined;
  if (hasIssuer && !hasIdentity)
    throw usage('--certificate-oidc-issuer needs --certificate-identity (or --certificate-identity-regexp)');
  const out: { -readonly [K in keyof VerifyRequirements]: VerifyRequirements[K] } = {};
  if (trust.key !== undefined) out.keys = [keyFingerprint(trust.key, readFile)];
  if (trust.certificateIdentity !== undefined) out.certificateIdentity = trust.certificateIdentity;
  if (trust.certificateIdentityRegexp !== undefined)
    out.certificateIdentityRegexp = trust.certificateIdentityRegexp;
  if (trust.certificateOidcIssuer !== undefined) out.certificateOidcIssuer = trust.certificateOidcIssuer;
  if (trust.certificateOidcIssuerRegexp !== undefined)
    out.certificateOidcIssuerRegexp = trust.certificateOidcIssuerRegexp;
  if (hasIdentity && trustRoot !== undefined && trustRoot !== '') out.trustRoot = trustRoot;
  return Object.keys(out).length === 0 ? undefined : out;
}
