/**
 * Tells a cosign image signature bundle from an attestation bundle: a signature is a DSSE
 * envelope of an in-toto Statement (v0.1 or v1) with predicateType https://sigstore.dev/cosign/sign/v1.
 * Classification only; the verifier checks the envelope, the signature and the subject digest.
 */
import { CountersignError } from '../errors.ts';

export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v0.1', 'https://in-toto.io/Statement/v1']);

export interface InTotoStatement {
  readonly predicateType: string;
  readonly subjects: readonly { readonly name: string; readonly sha256?: string }[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the in-toto statement a bundle's DSSE envelope carries (unverified). */
export function bundleStatement(bundleJson: string): InTotoStatement {
  let doc: unknown;
  try {
    doc = JSON.parse(bundleJson);
  } catch {
    throw new CountersignError('BUNDLE_INVALID', 'bundle is not JSON');
  }
  const env = isRecord(doc) ? doc['dsseEnvelope'] : undefined;
  if (!isRecord(env)) throw new CountersignError('BUNDLE_INVALID', 'bundle carries no DSSE envelope');
  if (env['payloadType'] !== IN_TOTO_PAYLOAD_TYPE) {
    throw new CountersignError(
      'BUNDLE_INVALID',
      `DSSE payloadType "${String(env['payloadType'])}" is not in-toto`,
    );
  }
  const payload = env['payload'];
  let st: unknown;
  try {
    st =
      typeof payload === 'string' ? JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) : undefined;
  } catch {
    st = undefined;
  }
  if (!isRecord(st) || typeof st['_type'] !== 'string' || !STATEMENT_TYPES.has(st['_type'])) {
    throw new CountersignError('BUNDLE_INVALID', 'DSSE payload is not an in-toto Statement');
  }
  const predicateType = st['predicateType'];
  const subject = st['subject'];
  if (typeof predicateType !== 'string' || !Array.isArray(subject)) {
    throw new CountersignError('BUNDLE_INVALID', 'in-toto Statement lacks predicateType or subject');
  }
  const subjects = subject.filter(isRecord).map((s) => {
    const d = s['digest'];
    const sha = isRecord(d) && typeof d['sha256'] === 'string' ? d['sha256'] : undefined;
    return {
      name: typeof s['name'] === 'string' ? s['name'] : '',
      ...(sha === undefined ? {} : { sha256: sha }),
    };
  });
  return { predicateType, subjects };
}

export function classifyBundle(
  bundleJson: string,
): { kind: 'signature' } | { kind: 'attestation'; predicateType: string } {
  const st = bundleStatement(bundleJson);
  return st.predicateType === COSIGN_SIGN_PREDICATE
    ? { kind: 'signature' }
    : { kind: 'attestation', predicateType: st.predicateType };
}
