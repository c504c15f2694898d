/**
 * The one composition function of a verification (DESIGN.md "One verification, end to end"):
 * parse, resolve the digest, discover signatures once, evaluate the policies purely, explain.
 * All I/O of a decision happens here; the audit append is the caller's next step.
 */
import { isAbsolute, relative, resolve as resolvePath } from 'node:path';
import { realpathSync } from 'node:fs';
import { CountersignError, isCountersignError, errorClassOf } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { normalisedName, openImageSource, parseReference } from '../oci/index.ts';
import type { ImageReference, ImageSource, RegistryClient, RegistryOptions } from '../oci/index.ts';
import { evaluatePolicies, selectPolicies } from '../policy/index.ts';
import type { BoundPolicy, Decision } from '../policy/index.ts';
import { discoverSignatures } from '../signature/discover.ts';
import type { AttestationInfo, DiscoveryOptions, RejectedAttachment } from '../signature/discover.ts';
import { checkSignature } from '../verify/check-signature.ts';
import { DecisionCache } from './cache.ts';
import { resolveImage } from '../verify/resolve.ts';

export interface VerifyImageRequest {
  readonly image: string;
  readonly policies: readonly BoundPolicy[];
  readonly registry: RegistryOptions;
  /** A long-lived client (the appliance's): connections and bearer tokens are reused across calls. */
  readonly client?: RegistryClient;
  readonly discovery: DiscoveryOptions;
  /** When set, `oci:` layouts are readable only inside these directories. */
  readonly layoutRoots?: readonly string[];
  readonly now?: Date;
  /** Allow decisions cached by (digest, policy hashes, trust version); see cache.ts. */
  readonly cache?: { readonly store: DecisionCache<VerificationOutcome>; readonly trustVersion: string };
}

export interface SignatureSummary {
  readonly id: string;
  readonly format: string;
}

export interface VerificationOutcome {
  readonly allowed: boolean;
  /** Reason code of a denial; null for a clean allow. */
  readonly code: ErrorCode | null;
  readonly explanation: string;
  readonly image: string;
  readonly name?: string;
  readonly digest?: string;
  /** `name@sha256:...`: what the caller must run. */
  readonly pinned?: string;
  readonly decision?: Decision;
  readonly signatures: readonly SignatureSummary[];
  readonly rejected: readonly RejectedAttachment[];
  readonly attestations: readonly AttestationInfo[];
  readonly notes: readonly string[];
  /** True when the allow came from the decision cache (the digest was still resolved afresh). */
  readonly cached?: boolean;
}

/** Refuses `oci:` paths outside the allowed roots (after resolving symlinks). */
export function checkLayoutPath(ref: ImageReference, roots: readonly string[] | undefined): void {
  if (ref.kind !== 'layout' || roots === undefined) return;
  let real: string;
  try {
    real = realpathSync(resolvePath(ref.path));
  } catch {
    throw new CountersignError(
      'LAYOUT_PATH_FORBIDDEN',
      `oci layout ${ref.path} is not inside an allowed layout root`,
    );
  }
  for (const root of roots) {
    let realRoot: string;
    try {
      realRoot = realpathSync(resolvePath(root));
    } catch {
      continue;
    }
    const rel = relative(realRoot, real);
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) return;
  }
  throw new CountersignError(
    'LAYOUT_PATH_FORBIDDEN',
    `oci layout ${ref.path} is not inside an allowed layout root`,
  );
}

/**
 * Verifies an image under policies. Usage errors (malformed reference, forbidden layout path)
 * throw; everything about the image itself, unreachable sources included, is a denial outcome.
 */
export async function verifyImage(req: VerifyImageRequest): Promise<VerificationOutcome> {
  const reference = parseReference(req.image);
  checkLayoutPath(reference, req.layoutRoots);
  const now = req.now ?? new Date();
  const notes: string[] = [];
  const base = { image: req.image, signatures: [], rejected: [], attestations: [], notes };
  let owned: Awaited<ReturnType<typeof openImageSource>> | undefined;
  try {
    let source: ImageSource;
    if (reference.kind === 'registry' && req.client !== undefined) {
      source = req.client.source(reference);
    } else {
      owned = await openImageSource(reference, req.registry);
      source = owned;
    }
    // A digest-pinned reference with a cached allow needs no I/O at all: the digest names the
    // content, and the cache key binds the policies and trust that approved it.
    const name = normalisedName(reference);
    const keyFor = (digest: string): string | undefined =>
      req.cache === undefined
        ? undefined
        : DecisionCache.key(
            digest,
            selectPolicies(name, req.policies).selected.map((p) => p.policy.contentHash),
            req.cache.trustVersion,
          );
    if (reference.digest !== undefined) {
      const pinnedKey = keyFor(reference.digest);
      const early = pinnedKey === undefined ? undefined : req.cache?.store.get(pinnedKey);
      if (early !== undefined) return { ...early, image: req.image, cached: true };
    }
    const resolved = await resolveImage(source, reference);
    const cacheKey = keyFor(resolved.digest);
    const hit =
      reference.digest === undefined && cacheKey !== undefined ? req.cache?.store.get(cacheKey) : undefined;
    if (hit !== undefined) return { ...hit, image: req.image, pinned: resolved.pinned, cached: true };
    const found = await discoverSignatures(source, resolved.digest, req.discovery);
    const decision = evaluatePolicies({
      image: resolved.name,
      digest: resolved.digest,
      candidates: found.candidates,
      policies: req.policies,
      check: (candidate, signer) =>
        checkSignature(candidate, signer, { digest: resolved.digest, repository: resolved.name }, { now }),
    });
    for (const p of decision.policies) {
      const bound = req.policies.find((b) => b.policy.contentHash === p.contentHash);
      for (const t of bound?.trust.values() ?? []) {
        if (t.kind === 'certificate' && t.trustedRoot.caOnly) {
          notes.push(
            `certificates under trust root ${t.trustedRoot.name} are checked at the current time (no log or timestamp authority)`,
          );
        }
      }
    }
    let code = decision.allowed ? decision.code : primaryReason(decision);
    let unsignedNote = '';
    if (!decision.allowed && found.candidates.length === 0) {
      code = found.rejected[0]?.code ?? 'NO_SIGNATURES';
      if (code === 'NO_SIGNATURES' && reference.digest === undefined) {
        const others = await otherSignedDigests(source, resolved.digest);
        if (others > 0) {
          code = 'SIGNED_OTHER_DIGEST';
          unsignedNote = `; ${others} other digest(s) of ${resolved.name} are signed: was the tag re-pushed after signing?`;
        }
      }
    }
    const outcome: VerificationOutcome = {
      ...base,
      notes: [...new Set(notes)],
      allowed: decision.allowed,
      code,
      explanation:
        !decision.allowed && found.candidates.length === 0
          ? `denied: no signatures found for ${resolved.digest}${found.rejected.length > 0 ? ` (${found.rejected.length} unusable attachment(s))` : ''}${unsignedNote} [${code ?? 'NO_SIGNATURES'}]`
          : decision.explanation,
      name: resolved.name,
      digest: resolved.digest,
      pinned: resolved.pinned,
      decision,
      signatures: found.candidates.map((c) => ({ id: c.id, format: c.format })),
      rejected: found.rejected,
      attestations: found.attestations,
    };
    // Only clean allows are cached: a warn-mode allow carries warnings worth recomputing.
    if (cacheKey !== undefined && outcome.allowed && outcome.code === null)
      req.cache?.store.set(cacheKey, outcome);
    return outcome;
  } catch (e: unknown) {
    if (!isCountersignError(e) || errorClassOf(e.code) === 'usage') throw e;
    return { ...base, allowed: false, code: e.code, explanation: `denied: ${e.message} [${e.code}]` };
  } finally {
    await owned?.close();
  }
}

// Signature-level reasons, most telling first: a signature for another image says more than a
// signature that merely does not verify.
const REASON_PRIORITY: readonly ErrorCode[] = [
  'PAYLOAD_DIGEST_MISMATCH',
  'SUBJECT_DIGEST_MISMATCH',
  'PAYLOAD_REFERENCE_MISMATCH',
  'ANNOTATION_MISMATCH',
  'TLOG_MISSING',
  'TLOG_INVALID',
  'IDENTITY_MISMATCH',
  'ISSUER_MISMATCH',
  'SCT_MISSING',
  'CERTIFICATE_EXPIRED',
  'CERTIFICATE_CHAIN_INVALID',
  'CERTIFICATE_INVALID',
  'TIMESTAMP_INVALID',
  'PAYLOAD_TYPE_INVALID',
  'PAYLOAD_INVALID',
  'BUNDLE_INVALID',
  'SIGNATURE_LAYER_MODIFIED',
  'SIGNATURE_INVALID',
];

/**
 * The reason code of a denial. When no signer of the failing policy was satisfied, the
 * signatures' own reasons explain more than THRESHOLD_NOT_MET; otherwise the policy's code stands.
 */
function primaryReason(decision: Decision): ErrorCode | null {
  const failing = decision.policies.find((p) => !p.passed && p.mode === 'enforce');
  if (failing === undefined || failing.satisfied > 0) return decision.code;
  const codes = new Set(failing.signers.flatMap((s) => s.reasons.map((r) => r.code)));
  return REASON_PRIORITY.find((c) => codes.has(c)) ?? decision.code;
}

/**
 * How many other digests of the repository carry a cosign signature tag. Only a diagnosis of a
 * denial (tag lists are not trusted for anything else); a source that cannot list says 0.
 */
async function otherSignedDigests(source: ImageSource, digest: string): Promise<number> {
  if (source.listTags === undefined) return 0;
  try {
    const own = `${digest.replace(':', '-')}.sig`;
    return (await source.listTags()).filter((t) => /^sha256-[0-9a-f]{64}\.sig$/.test(t) && t !== own).length;
  } catch {
    return 0;
  }
}
