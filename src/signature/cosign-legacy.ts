/**
 * cosign's legacy signature attachment: tag `sha256-<hex>.sig`, one manifest layer per signature,
 * the layer blob is the signed payload and its annotations carry the signature and its evidence.
 */
import { CountersignError } from '../errors.ts';
import type { Digest } from '../oci/types.ts';
import type { LegacyCosignSignature } from '../verify/types.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const ANNOTATION_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const ANNOTATION_CERTIFICATE = 'dev.sigstore.cosign/certificate';
export const ANNOTATION_CHAIN = 'dev.sigstore.cosign/chain';
export const ANNOTATION_BUNDLE = 'dev.sigstore.cosign/bundle';
export const ANNOTATION_RFC3161 = 'dev.sigstore.cosign/rfc3161timestamp';

/** The tag cosign attaches signatures under: `sha256-<hex>.sig`. */
export function signatureTag(digest: Digest): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The OCI 1.1 referrers fallback tag: `sha256-<hex>`. */
export function referrersFallbackTag(digest: Digest): string {
  return digest.replace(':', '-');
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict base64: standard alphabet, correct padding. Line breaks are dropped first, as Go's
 * encoding/base64 (cosign, containers/image) does: RSA signatures are written wrapped at 76 columns.
 */
export function decodeBase64Strict(input: string, what: string): Uint8Array {
  const text = input.replace(/[\r\n]/g, '');
  if (text.length === 0 || text.length % 4 !== 0 || !BASE64_RE.test(text)) {
    throw new CountersignError('SIGNATURE_ENCODING_INVALID', `${what}: not valid base64`);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export interface SignatureLayer {
  readonly mediaType: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * Builds a candidate from one layer and its blob. Throws a coded error when the layer is not a
 * cosign signature at all; payload semantics are checked at verification time.
 */
export function legacySignatureFromLayer(
  id: string,
  layer: SignatureLayer,
  payload: Uint8Array,
): LegacyCosignSignature {
  if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
    throw new CountersignError(
      'NOT_A_SIGNATURE',
      `${id}: layer media type "${layer.mediaType}" is not a simple-signing payload`,
    );
  }
  const a = layer.annotations;
  const sig = a[ANNOTATION_SIGNATURE];
  if (sig === undefined) {
    throw new CountersignError('NOT_A_SIGNATURE', `${id}: no ${ANNOTATION_SIGNATURE} annotation`);
  }
  const certificatePem = nonEmpty(a[ANNOTATION_CERTIFICATE]);
  const chainPem = nonEmpty(a[ANNOTATION_CHAIN]);
  const rekorBundle = nonEmpty(a[ANNOTATION_BUNDLE]);
  const rfc3161Timestamp = nonEmpty(a[ANNOTATION_RFC3161]);
  return {
    format: 'cosign-legacy',
    id,
    payload,
    signature: decodeBase64Strict(sig, `${id}: ${ANNOTATION_SIGNATURE}`),
    annotations: a,
    ...(certificatePem === undefined ? {} : { certificatePem }),
    ...(chainPem === undefined ? {} : { chainPem }),
    ...(rekorBundle === undefined ? {} : { rekorBundle }),
    ...(rfc3161Timestamp === undefined ? {} : { rfc3161Timestamp }),
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}
