/**
 * Maps a legacy cosign signature onto a Sigstore bundle v0.1 (message signature over the payload,
 * the Rekor SET as inclusion promise, RFC 3161 timestamps) so that @sigstore/verify checks keys and
 * certificates on one code path (DESIGN.md, "Signature formats").
 */
import { createHash } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import type { Bundle } from '@sigstore/bundle';
import { CountersignError } from '../errors.ts';
import type { LegacyCosignSignature } from './types.ts';

const BUNDLE_V01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

const HASH_NAMES = { sha256: 'SHA2_256', sha384: 'SHA2_384', sha512: 'SHA2_512' } as const;
export type HashName = keyof typeof HASH_NAMES;

interface RekorBundleAnnotation {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

function parseRekorBundle(text: string, id: string): RekorBundleAnnotation {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CountersignError('TLOG_INVALID', `${id}: dev.sigstore.cosign/bundle is not JSON`);
  }
  const d = doc as Partial<RekorBundleAnnotation> | null;
  const p = d?.Payload;
  if (
    typeof d?.SignedEntryTimestamp !== 'string' ||
    typeof p?.body !== 'string' ||
    !Number.isSafeInteger(p.integratedTime) ||
    !Number.isSafeInteger(p.logIndex) ||
    p.logIndex < 0 ||
    typeof p.logID !== 'string' ||
    !/^[0-9a-f]{64}$/.test(p.logID)
  ) {
    throw new CountersignError('TLOG_INVALID', `${id}: dev.sigstore.cosign/bundle is malformed`);
  }
  return d as RekorBundleAnnotation;
}

function rekorKindVersion(bodyB64: string, id: string): { kind: string; version: string } {
  try {
    const body = JSON.parse(Buffer.from(bodyB64, 'base64').toString('utf8')) as {
      kind?: unknown;
      apiVersion?: unknown;
    };
    if (typeof body.kind === 'string' && typeof body.apiVersion === 'string') {
      return { kind: body.kind, version: body.apiVersion };
    }
  } catch {
    // fall through
  }
  throw new CountersignError('TLOG_INVALID', `${id}: Rekor entry body is not a Rekor entry`);
}

function pemToBase64Der(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (m?.[1] === undefined)
    throw new CountersignError('CERTIFICATE_INVALID', 'certificate annotation is not a PEM certificate');
  return m[1].replace(/\s+/g, '');
}

export interface LegacyBundleOptions {
  readonly hash: HashName;
  /** Include the Rekor entry (only when a trust root with logs can check it). */
  readonly withTlog: boolean;
  /** Key hint for key signatures; certificate signatures carry the leaf instead. */
  readonly keyHint?: string;
}

export function legacySignatureToBundle(sig: LegacyCosignSignature, opts: LegacyBundleOptions): Bundle {
  const tlogEntries = [];
  if (opts.withTlog && sig.rekorBundle !== undefined) {
    const rb = parseRekorBundle(sig.rekorBundle, sig.id);
    tlogEntries.push({
      logIndex: String(rb.Payload.logIndex),
      logId: { keyId: Buffer.from(rb.Payload.logID, 'hex').toString('base64') },
      kindVersion: rekorKindVersion(rb.Payload.body, sig.id),
      integratedTime: String(rb.Payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: rb.SignedEntryTimestamp },
      canonicalizedBody: rb.Payload.body,
    });
  }
  const rfc3161Timestamps = [];
  if (sig.rfc3161Timestamp !== undefined) {
    try {
      const t = JSON.parse(sig.rfc3161Timestamp) as { SignedRFC3161Timestamp?: unknown };
      if (typeof t.SignedRFC3161Timestamp !== 'string') throw new Error('missing');
      rfc3161Timestamps.push({ signedTimestamp: t.SignedRFC3161Timestamp });
    } catch {
      throw new CountersignError(
        'TIMESTAMP_INVALID',
        `${sig.id}: dev.sigstore.cosign/rfc3161timestamp is malformed`,
      );
    }
  }
  const verificationMaterial =
    sig.certificatePem !== undefined && opts.keyHint === undefined
      ? { x509CertificateChain: { certificates: [{ rawBytes: pemToBase64Der(sig.certificatePem) }] } }
      : { publicKey: { hint: opts.keyHint ?? '' } };
  const json = {
    mediaType: BUNDLE_V01,
    verificationMaterial: {
      ...verificationMaterial,
      tlogEntries,
      timestampVerificationData: { rfc3161Timestamps },
    },
    messageSignature: {
      messageDigest: {
        algorithm: HASH_NAMES[opts.hash],
        digest: createHash(opts.hash).update(sig.payload).digest('base64'),
      },
      signature: Buffer.from(sig.signature).toString('base64'),
    },
  };
  try {
    return bundleFromJSON(json);
  } catch (e: unknown) {
    throw new CountersignError(
      'BUNDLE_INVALID',
      `${sig.id}: cannot form a Sigstore bundle (${(e as Error).message})`,
    );
  }
}
