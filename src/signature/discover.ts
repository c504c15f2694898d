/**
 * Signature discovery (I/O): everything attached to one digest, fetched once per image whatever
 * the number of signers. Finds legacy cosign signatures on `sha256-<hex>.sig` and Sigstore bundles
 * through the OCI 1.1 referrers API or, failing that, its fallback tag `sha256-<hex>`.
 */
import { CountersignError, isCountersignError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { isDigest } from '../oci/digest.ts';
import { parseManifest } from '../oci/manifest.ts';
import type { Descriptor, Digest, FetchedManifest, ImageSource } from '../oci/types.ts';
import type { BundleSignature, LegacyCosignSignature, SignatureCandidate } from '../verify/types.ts';
import { classifyBundle } from './bundle-kind.ts';
import {
  legacySignatureFromLayer,
  referrersFallbackTag,
  signatureTag,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from './cosign-legacy.ts';

export interface RejectedAttachment {
  readonly id: string;
  readonly code: ErrorCode;
  readonly detail: string;
}

export interface AttestationInfo {
  readonly id: string;
  readonly predicateType: string;
}

export interface DiscoveryResult {
  readonly candidates: readonly SignatureCandidate[];
  /** Attachments that looked like signatures but could not be read as one. */
  readonly rejected: readonly RejectedAttachment[];
  /** Bundles with other predicate types: listed, never counted as signatures. */
  readonly attestations: readonly AttestationInfo[];
}

export interface DiscoveryOptions {
  /** Upper bound for one signature payload or bundle blob. */
  readonly maxSignatureBlobBytes: number;
  /** Upper bound for attachments read per image, against signature flooding. */
  readonly maxAttachments: number;
}

export const DEFAULT_DISCOVERY_OPTIONS: DiscoveryOptions = {
  maxSignatureBlobBytes: 1024 * 1024,
  maxAttachments: 64,
};

const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';

function reject(id: string, e: unknown): RejectedAttachment {
  if (isCountersignError(e)) return { id, code: e.code, detail: e.message };
  throw e;
}

export async function discoverSignatures(
  source: ImageSource,
  digest: Digest,
  options: DiscoveryOptions = DEFAULT_DISCOVERY_OPTIONS,
): Promise<DiscoveryResult> {
  const candidates: SignatureCandidate[] = [];
  const rejected: RejectedAttachment[] = [];
  const attestations: AttestationInfo[] = [];

  // The two kinds of attachment are looked up concurrently: one round trip instead of two.
  const sigTag = signatureTag(digest);
  const referrersLookup = lookUpReferrers(source, digest);
  // Keep a rejection from surfacing as unhandled while the legacy lookup is awaited.
  referrersLookup.catch(() => undefined);

  // 1. Legacy cosign: one manifest, one layer per signature.
  const sigManifest = await source.getManifest(sigTag);
  if (sigManifest !== null) {
    try {
      const m = parseManifest(sigManifest.bytes, sigManifest.mediaType);
      if (m.kind !== 'manifest') {
        throw new CountersignError(
          'SIGNATURE_MANIFEST_INVALID',
          `${sigTag}: is an index, not a signature manifest`,
        );
      }
      const layers = m.layers.slice(0, options.maxAttachments);
      // The config (evidence of the recorded layer digests) and every payload, concurrently.
      const recordedLookup = recordedLayerDigests(source, m.config.digest, m.layers.length);
      const read = await Promise.all(
        layers.map(async (layer, i): Promise<LegacyCosignSignature | RejectedAttachment> => {
          const id = `${sigTag}#${i}`;
          try {
            if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) {
              throw new CountersignError(
                'NOT_A_SIGNATURE',
                `${id}: layer media type "${layer.mediaType}" is not a simple-signing payload`,
              );
            }
            const payload = await readBlob(source, layer, options);
            return legacySignatureFromLayer(
              id,
              { mediaType: layer.mediaType, annotations: layer.annotations ?? {} },
              payload,
            );
          } catch (e: unknown) {
            return reject(id, e);
          }
        }),
      );
      const recorded = await recordedLookup;
      read.forEach((r, i) => {
        if (!('format' in r)) {
          rejected.push(r);
          return;
        }
        const recordedDigest = recorded?.[i];
        candidates.push(recordedDigest === undefined ? r : { ...r, recordedDigest });
      });
    } catch (e: unknown) {
      rejected.push(reject(sigTag, e));
    }
  }

  // 2. Bundles: referrers API, else the fallback tag (entries not filtered by artifactType: older
  //    writers put the wrong one there).
  const referrers = await referrersLookup;
  if (referrers !== null) {
    try {
      const index = parseManifest(referrers.bytes, referrers.mediaType);
      if (index.kind !== 'index') {
        throw new CountersignError('SIGNATURE_MANIFEST_INVALID', `referrers of ${digest}: not an index`);
      }
      for (const entry of index.manifests.slice(0, options.maxAttachments)) {
        const id = `referrer ${entry.digest}`;
        try {
          const found = await readBundleReferrer(source, entry, digest, id, options);
          if (found === undefined) continue;
          const kind = classifyBundle(found.bundleJson);
          if (kind.kind === 'signature') candidates.push(found);
          else attestations.push({ id, predicateType: kind.predicateType });
        } catch (e: unknown) {
          rejected.push(reject(id, e));
        }
      }
    } catch (e: unknown) {
      rejected.push(reject(`referrers of ${digest}`, e));
    }
  }
  return { candidates, rejected, attestations };
}

const MAX_CONFIG_BYTES = 64 * 1024;

/**
 * The layer digests a cosign signature image's config records (`rootfs.diff_ids`; signature layers
 * are uncompressed, so diff_id = layer digest). Evidence only: absent or unreadable gives undefined.
 */
async function recordedLayerDigests(
  source: ImageSource,
  configDigest: Digest,
  layerCount: number,
): Promise<readonly Digest[] | undefined> {
  try {
    const bytes = await source.getBlob(configDigest, MAX_CONFIG_BYTES);
    const doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as {
      rootfs?: { diff_ids?: unknown };
    };
    const ids = doc.rootfs?.diff_ids;
    if (!Array.isArray(ids) || ids.length !== layerCount) return undefined;
    if (!ids.every((d): d is Digest => typeof d === 'string' && isDigest(d))) return undefined;
    return ids;
  } catch {
    return undefined;
  }
}

/** The referrers API, else its fallback tag `sha256-<hex>` (OCI distribution-spec 1.1). */
async function lookUpReferrers(source: ImageSource, digest: Digest): Promise<FetchedManifest | null> {
  const referrers = await source.getReferrers(digest);
  return referrers ?? (await source.getManifest(referrersFallbackTag(digest)));
}

async function readBlob(
  source: ImageSource,
  layer: Descriptor,
  options: DiscoveryOptions,
): Promise<Uint8Array> {
  if (layer.size > options.maxSignatureBlobBytes) {
    throw new CountersignError(
      'SIZE_LIMIT_EXCEEDED',
      `blob ${layer.digest} declares ${layer.size} bytes, over the ${options.maxSignatureBlobBytes}-byte limit`,
    );
  }
  return source.getBlob(layer.digest, options.maxSignatureBlobBytes);
}

/** A referrer that holds a Sigstore bundle for `subject`, or undefined for unrelated referrers. */
async function readBundleReferrer(
  source: ImageSource,
  entry: Descriptor,
  subject: Digest,
  id: string,
  options: DiscoveryOptions,
): Promise<BundleSignature | undefined> {
  const fetched = await source.getManifest(entry.digest);
  if (fetched === null) throw new CountersignError('MANIFEST_NOT_FOUND', `${id}: listed but not found`);
  const m = parseManifest(fetched.bytes, fetched.mediaType);
  if (m.kind !== 'manifest') return undefined;
  // The referrer must name this image as its subject, whatever index listed it.
  if (m.subject?.digest !== subject) return undefined;
  const layer = m.layers.find((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
  if (layer === undefined) return undefined;
  const blob = await readBlob(source, layer, options);
  let bundleJson: string;
  try {
    bundleJson = new TextDecoder('utf-8', { fatal: true }).decode(blob);
  } catch {
    throw new CountersignError('BUNDLE_INVALID', `${id}: bundle is not UTF-8`);
  }
  const artifactType = m.artifactType ?? entry.artifactType;
  return { format: 'bundle', id, bundleJson, ...(artifactType === undefined ? {} : { artifactType }) };
}
