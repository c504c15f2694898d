/**
 * One error class for the whole product. Every failure carries a code; the code decides the CLI
 * exit code, the HTTP status and the reason recorded in the audit trail, from the one table below.
 */

/** What kind of outcome a code stands for. */
export type ErrorClass =
  /** The caller asked for something malformed, or the configuration is wrong: exit 2, HTTP 400. */
  | 'usage'
  /** The image's source could not be read (registry down, timeout, auth): a denial, exit 3. */
  | 'unreachable'
  /** The evidence was read and is not good enough: a denial, exit 1. */
  | 'denied'
  /** countersign cannot record or serve the decision: exit 4, HTTP 503, never an allow. */
  | 'unavailable'
  /** Authentication and authorisation: HTTP 401/403. */
  | 'auth';

const CODE_TABLE = {
  // usage and configuration
  USAGE: 'usage',
  INVALID_REFERENCE: 'usage',
  LAYOUT_PATH_FORBIDDEN: 'usage',
  KEY_INVALID: 'usage',
  TRUST_ROOT_INVALID: 'usage',
  POLICY_INVALID: 'usage',
  CONFIG_INVALID: 'usage',
  REQUEST_INVALID: 'usage',
  NOT_FOUND: 'usage',
  // source unreachable
  REGISTRY_UNREACHABLE: 'unreachable',
  REGISTRY_TIMEOUT: 'unreachable',
  REGISTRY_AUTH_FAILED: 'unreachable',
  REGISTRY_ERROR: 'unreachable',
  REGISTRY_TLS_ERROR: 'unreachable',
  REGISTRY_REDIRECT_REFUSED: 'unreachable',
  LAYOUT_UNREADABLE: 'unreachable',
  // denials: the image
  MANIFEST_NOT_FOUND: 'denied',
  MANIFEST_INVALID: 'denied',
  MANIFEST_SCHEMA1: 'denied',
  MANIFEST_UNSUPPORTED: 'denied',
  DIGEST_MISMATCH: 'denied',
  SIZE_LIMIT_EXCEEDED: 'denied',
  // denials: the signatures
  NO_SIGNATURES: 'denied',
  /** No signature for this digest, while other digests of the repository are signed (a re-pushed tag?). */
  SIGNED_OTHER_DIGEST: 'denied',
  SIGNATURE_MANIFEST_INVALID: 'denied',
  SIGNATURE_ENCODING_INVALID: 'denied',
  SIGNATURE_INVALID: 'denied',
  /** The payload layer differs from the one the signature image's config recorded: replaced after signing. */
  SIGNATURE_LAYER_MODIFIED: 'denied',
  PAYLOAD_INVALID: 'denied',
  PAYLOAD_TYPE_INVALID: 'denied',
  PAYLOAD_DIGEST_MISMATCH: 'denied',
  PAYLOAD_REFERENCE_MISMATCH: 'denied',
  ANNOTATION_MISMATCH: 'denied',
  NOT_A_SIGNATURE: 'denied',
  BUNDLE_INVALID: 'denied',
  SUBJECT_DIGEST_MISMATCH: 'denied',
  TLOG_MISSING: 'denied',
  TLOG_INVALID: 'denied',
  TIMESTAMP_INVALID: 'denied',
  CERTIFICATE_INVALID: 'denied',
  CERTIFICATE_CHAIN_INVALID: 'denied',
  CERTIFICATE_EXPIRED: 'denied',
  SCT_MISSING: 'denied',
  SCT_INVALID: 'denied',
  IDENTITY_MISMATCH: 'denied',
  ISSUER_MISMATCH: 'denied',
  NOT_APPLICABLE: 'denied',
  THRESHOLD_NOT_MET: 'denied',
  REQUIRED_SIGNER_MISSING: 'denied',
  NO_MATCHING_POLICY: 'denied',
  // appliance
  AUDIT_UNAVAILABLE: 'unavailable',
  INTERNAL: 'unavailable',
  UNAUTHENTICATED: 'auth',
  FORBIDDEN: 'auth',
} as const satisfies Record<string, ErrorClass>;

export type ErrorCode = keyof typeof CODE_TABLE;

export const ERROR_CODES = Object.keys(CODE_TABLE) as readonly ErrorCode[];

export function errorClassOf(code: ErrorCode): ErrorClass {
  return CODE_TABLE[code];
}

export class CountersignError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CountersignError';
    this.code = code;
  }
}

export function isCountersignError(e: unknown): e is CountersignError {
  return e instanceof CountersignError;
}

/** CLI exit codes: 0 allowed, 1 denied, 2 usage or configuration error, 3 source unreachable, 4 unavailable. */
export function exitCodeFor(code: ErrorCode): number {
  switch (CODE_TABLE[code]) {
    case 'usage':
      return 2;
    case 'unreachable':
      return 3;
    case 'denied':
      return 1;
    case 'unavailable':
      return 4;
    case 'auth':
      return 2;
  }
}

/** HTTP status for an error raised while serving a request (a denial is a normal 200 answer). */
export function httpStatusFor(code: ErrorCode): number {
  if (code === 'UNAUTHENTICATED') return 401;
  if (code === 'FORBIDDEN') return 403;
  if (code === 'NOT_FOUND') return 404;
  switch (CODE_TABLE[code]) {
    case 'usage':
      return 400;
    case 'unavailable':
      return 503;
    // 'auth' codes are all answered above.
    case 'unreachable':
    case 'denied':
      return 200;
  }
}

/** Turns anything thrown into a CountersignError, keeping codes that are already there. */
export function toCountersignError(e: unknown): CountersignError {
  if (isCountersignError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new CountersignError('INTERNAL', message, { cause: e });
}
