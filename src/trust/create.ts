/**
 * Assembling a trusted_root.json from PEM files, as `cosign trusted-root create` does with its
 * --certificate-chain / --rekor-key / --ctfe-key / --timestamp-certificate-chain flags (the same
 * material cosign's SIGSTORE_ROOT_FILE, SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE
 * and SIGSTORE_TSA_CERTIFICATE_FILE variables point at). Pure: PEM text in, JSON out.
 *
 * Choices copied from cosign (cmd/cosign/cli/trustedroot): log IDs are sha256 over the DER
 * SubjectPublicKeyInfo; a CA or TSA is valid from its root's notBefore; a log key is valid from
 * the Unix epoch; base URLs are left empty. `validFrom` overrides every start.
 */
import { createHash } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { CountersignError } from '../errors.ts';
import { parsePublicKeyPem } from '../verify/keys.ts';
import { TRUSTED_ROOT_MEDIA_TYPE, parseTrustedRoot } from './trusted-root.ts';

export interface CreateTrustedRootInput {
  /** CA chain, intermediates first and root last (Fulcio-style or a corporate CA). */
  readonly caChainPem: string;
  readonly rekorKeyPem?: string;
  readonly ctlogKeyPem?: string;
  /** TSA chain: signing certificate first, root last. */
  readonly tsaChainPem?: string;
  /** Start of every validity window (default: as cosign, see above). */
  readonly validFrom?: Date;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
const EPOCH = new Date(0);

/** Builds and validates a trusted root; throws TRUST_ROOT_INVALID (or KEY_INVALID) on bad input. */
export function createTrustedRoot(input: CreateTrustedRootInput): Record<string, unknown> {
  const caChain = parseCertificates(input.caChainPem, 'CA chain');
  caChain.forEach((c, i) => {
    if (!c.cert.isCA) invalid(`CA chain certificate ${i} is not a CA certificate`);
  });
  const caRoot = last(caChain, 'CA chain');
  const root: Record<string, unknown> = { mediaType: TRUSTED_ROOT_MEDIA_TYPE };
  if (input.rekorKeyPem !== undefined)
    root['tlogs'] = [transparencyLog(input.rekorKeyPem, 'Rekor key', input.validFrom)];
  root['certificateAuthorities'] = [
    {
      subject: {},
      certChain: { certificates: caChain.map((c) => ({ rawBytes: c.der.toString('base64') })) },
      validFor: { start: (input.validFrom ?? caRoot.cert.notBefore).toISOString() },
    },
  ];
  if (input.ctlogKeyPem !== undefined) {
    root['ctlogs'] = [transparencyLog(input.ctlogKeyPem, 'CT log key', input.validFrom)];
  }
  if (input.tsaChainPem !== undefined) {
    const tsa = parseCertificates(input.tsaChainPem, 'TSA chain');
    if (tsa.length < 2) invalid('TSA chain must hold the signing certificate and its root');
    if (tsa[0]?.cert.isCA === true) invalid('TSA chain must start with the signing (leaf) certificate');
    root['timestampAuthorities'] = [
      {
        subject: {},
        certChain: { certificates: tsa.map((c) => ({ rawBytes: c.der.toString('base64') })) },
        validFor: { start: (input.validFrom ?? last(tsa, 'TSA chain').cert.notBefore).toISOString() },
      },
    ];
  }
  // The result must pass the same parser every loaded root passes.
  parseTrustedRoot(root, 'created');
  return root;
}

function transparencyLog(pem: string, what: string, validFrom: Date | undefined): Record<string, unknown> {
  const key = parsePublicKeyPem(pem, what);
  const spki = key.key.export({ format: 'der', type: 'spki' });
  return {
    hashAlgorithm: 'SHA2_256',
    publicKey: {
      rawBytes: spki.toString('base64'),
      keyDetails: keyDetails(key.algorithm, key.key.asymmetricKeyDetails?.modulusLength),
      validFor: { start: (validFrom ?? EPOCH).toISOString() },
    },
    logId: { keyId: createHash('sha256').update(spki).digest('base64') },
  };
}

function keyDetails(algorithm: string, modulusLength: number | undefined): string {
  switch (algorithm) {
    case 'ecdsa-p256':
      return 'PKIX_ECDSA_P256_SHA_256';
    case 'ecdsa-p384':
      return 'PKIX_ECDSA_P384_SHA_384';
    case 'ecdsa-p521':
      return 'PKIX_ECDSA_P521_SHA_512';
    case 'ed25519':
      return 'PKIX_ED25519';
    default:
      if (modulusLength === 2048) return 'PKIX_RSA_PKCS1V15_2048_SHA256';
      if (modulusLength === 3072) return 'PKIX_RSA_PKCS1V15_3072_SHA256';
      if (modulusLength === 4096) return 'PKIX_RSA_PKCS1V15_4096_SHA256';
      return 'PKIX_RSA_PKCS1V5';
  }
}

interface ParsedCertificate {
  readonly der: Buffer;
  readonly cert: X509Certificate;
}

function parseCertificates(pem: string, what: string): ParsedCertificate[] {
  const out: ParsedCertificate[] = [];
  for (const m of pem.matchAll(PEM_CERTIFICATE)) {
    const der = Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
    try {
      out.push({ der, cert: X509Certificate.parse(der) });
    } catch {
      invalid(`${what}: certificate ${out.length} does not parse`);
    }
  }
  if (out.length === 0) invalid(`${what}: no PEM CERTIFICATE blocks`);
  return out;
}

function last(chain: readonly ParsedCertificate[], what: string): ParsedCertificate {
  const c = chain[chain.length - 1];
  if (c === undefined) invalid(`${what} is empty`);
  return c;
}

function invalid(message: string): never {
  throw new CountersignError('TRUST_ROOT_INVALID', message);
}
