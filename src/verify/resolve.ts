/**
 * Resolves what an image reference names, as a digest recomputed over the manifest bytes
 * (DESIGN.md step 2). A tag that points to an index resolves to the index digest, which is what
 * cosign signs by default.
 */
import { CountersignError } from '../errors.ts';
import { parseManifest } from '../oci/manifest.ts';
import { normalisedName, pinnedReference } from '../oci/reference.ts';
import type { Digest, ImageReference, ImageSource } from '../oci/types.ts';

export interface ResolvedImage {
  readonly reference: ImageReference;
  /** `registry/repository` or `oci:<dir>`: what policies' image globs match. */
  readonly name: string;
  readonly digest: Digest;
  /** `name@sha256:...`: what the caller must run. */
  readonly pinned: string;
  readonly mediaType: string;
  readonly kind: 'manifest' | 'index';
}

export async function resolveImage(source: ImageSource, reference: ImageReference): Promise<ResolvedImage> {
  const wanted = reference.digest ?? reference.tag ?? 'latest';
  const fetched = await source.getManifest(wanted);
  if (fetched === null) {
    throw new CountersignError('MANIFEST_NOT_FOUND', `no manifest for ${wanted} in ${source.name}`);
  }
  if (reference.digest !== undefined && fetched.digest !== reference.digest) {
    throw new CountersignError(
      'DIGEST_MISMATCH',
      `asked for ${reference.digest}, got content hashing to ${fetched.digest}`,
    );
  }
  const manifest = parseManifest(fetched.bytes, fetched.mediaType);
  return {
    reference,
    name: normalisedName(reference),
    digest: fetched.digest,
    pinned: pinnedReference(reference, fetched.digest),
    mediaType: fetched.mediaType,
    kind: manifest.kind,
  };
}
