/**
 * The "simple signing" payload cosign and containers/image sign
 * (https://github.com/containers/image/blob/main/docs/containers-signature.5.md).
 * Parsed from the exact signed bytes, never re-serialised.
 */
import { CountersignError } from '../errors.ts';
import type { Digest } from '../oci/types.ts';

export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
/** containers/image writes this type for the same payload shape (docker/atomic signatures). */
const ATOMIC_SIGNATURE_TYPE = 'atomic container signature';

export interface SimpleSigningPayload {
  readonly dockerReference: string;
  readonly manifestDigest: Digest;
  readonly type: string;
  /** The `optional` object: cosign `-a` annotations, skopeo's creator and timestamp. */
  readonly optional: Readonly<Record<string, unknown>>;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseSimpleSigningPayload(bytes: Uint8Array): SimpleSigningPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new CountersignError('PAYLOAD_INVALID', 'payload is not UTF-8 JSON');
  }
  if (!isRecord(doc)) throw new CountersignError('PAYLOAD_INVALID', 'payload is not a JSON object');
  const critical = doc['critical'];
  if (!isRecord(critical))
    throw new CountersignError('PAYLOAD_INVALID', 'payload.critical: missing or not an object');
  const type = critical['type'];
  if (typeof type !== 'string')
    throw new CountersignError('PAYLOAD_INVALID', 'payload.critical.type: missing');
  if (type !== COSIGN_SIGNATURE_TYPE && type !== ATOMIC_SIGNATURE_TYPE) {
    throw new CountersignError(
      'PAYLOAD_TYPE_INVALID',
      `payload.critical.type: "${type}" is not a container image signature`,
    );
  }
  const image = critical['image'];
  const digest = isRecord(image) ? image['docker-manifest-digest'] : undefined;
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) {
    throw new CountersignError(
      'PAYLOAD_INVALID',
      'payload.critical.image.docker-manifest-digest: missing or not a sha256 digest',
    );
  }
  const identity = critical['identity'];
  const ref = isRecord(identity) ? identity['docker-reference'] : undefined;
  if (typeof ref !== 'string') {
    throw new CountersignError('PAYLOAD_INVALID', 'payload.critical.identity.docker-reference: missing');
  }
  const optional = doc['optional'];
  if (optional !== undefined && optional !== null && !isRecord(optional)) {
    throw new CountersignError('PAYLOAD_INVALID', 'payload.optional: not an object');
  }
  return { dockerReference: ref, manifestDigest: digest as Digest, type, optional: optional ?? {} };
}

/** cosign `-a key=value`: every required pair must be present in `optional` with the same string value. */
export function missingAnnotations(
  payload: SimpleSigningPayload,
  required: Readonly<Record<string, string>>,
): string[] {
  const missing: string[] = [];
  for (const [k, v] of Object.entries(required)) {
    const got = payload.optional[k];
    if (typeof got !== 'string' || got !== v) missing.push(`${k}=${v}`);
  }
  return missing;
}
