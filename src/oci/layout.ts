/**
 * An OCI image layout directory as an ImageSource (image-spec v1.1 `image-layout.md`).
 *
 * Tags resolve through `index.json`:
 * - entries annotated `org.opencontainers.image.ref.name` (skopeo, oras, crane): the value is the
 *   tag itself or a full `name:tag`;
 * - else entries written by `cosign save` (cosign `pkg/oci/layout`), which carry no tag but a
 *   `kind` annotation: `dev.cosignproject.cosign/image` or `.../imageIndex` is the image (tag
 *   `latest` names it), `.../sigs` its signature manifest (tag `sha256-<hex>.sig` of that image),
 *   `.../atts` its attestations (`sha256-<hex>.att`).
 * Blobs are read from `blobs/sha256/<hex>` only, with the hex validated first and the hash
 * recomputed. Image config and layer blobs are never needed.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { CountersignError, isCountersignError } from '../errors.ts';
import { digestHex, isDigest, isTag, sha256Digest } from './digest.ts';
import { parseManifest } from './manifest.ts';
import type {
  Descriptor,
  Digest,
  FetchedManifest,
  ImageIndex,
  ImageSource,
  LayoutReference,
} from './types.ts';
import { MEDIA_TYPES } from './types.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** cosign `pkg/oci/layout/index.go`: the annotation key and its values. */
export const COSIGN_KIND_ANNOTATION = 'kind';
export const COSIGN_KINDS = {
  image: 'dev.cosignproject.cosign/image',
  imageIndex: 'dev.cosignproject.cosign/imageIndex',
  sigs: 'dev.cosignproject.cosign/sigs',
  atts: 'dev.cosignproject.cosign/atts',
} as const;

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface LayoutOptions {
  /** Upper bound for any blob, whatever a caller asks for. */
  readonly maxBlobBytes?: number;
}

function unreadable(message: string, cause?: unknown): CountersignError {
  return new CountersignError('LAYOUT_UNREADABLE', message, cause === undefined ? undefined : { cause });
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Reads a regular file of at most limit bytes; null when it does not exist. */
async function readBounded(file: string, limit: number, what: string): Promise<Uint8Array | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    if (isNotFound(e)) return null;
    throw unreadable(`cannot open ${what}`, e);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw unreadable(`${what} is not a regular file`);
    if (stat.size > limit) {
      throw new CountersignError(
        'SIZE_LIMIT_EXCEEDED',
        `${what} is ${stat.size} bytes, more than the limit of ${limit}`,
      );
    }
    // Read one byte past the limit so a file that grows meanwhile is still caught.
    const buffer = Buffer.alloc(Math.min(limit, stat.size) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > limit)
      throw new CountersignError('SIZE_LIMIT_EXCEEDED', `${what} is larger than the limit of ${limit}`);
    return new Uint8Array(buffer.subarray(0, length));
  } catch (e) {
    if (isCountersignError(e)) throw e;
    throw unreadable(`cannot read ${what}`, e);
  } finally {
    await handle.close();
  }
}

/** The tag part of a ref.name value: the whole value, or what follows the name in `name:tag`. */
function refNameTag(value: string): string {
  const colon = value.lastIndexOf(':');
  return colon > value.lastIndexOf('/') ? value.slice(colon + 1) : value;
}

/** Descriptors of index.json a tag names; see the module comment for the rules. */
export function descriptorsForTag(index: ImageIndex, tag: string): Descriptor[] {
  const byRefName = index.manifests.filter((d) => {
    const value = d.annotations?.[REF_NAME_ANNOTATION];
    return value !== undefined && (value === tag || refNameTag(value) === tag);
  });
  if (byRefName.length > 0) return byRefName;

  const ofKind = (...kinds: string[]) =>
    index.manifests.filter((d) => kinds.includes(d.annotations?.[COSIGN_KIND_ANNOTATION] ?? ''));
  const images = ofKind(COSIGN_KINDS.image, COSIGN_KINDS.imageIndex);
  if (tag === 'latest') return images;
  const attached = /^sha256-([0-9a-f]{64})\.(sig|att)$/.exec(tag);
  if (attached === null) return [];
  // cosign save writes one image and its attachments; they belong to it only if it is the one named.
  if (!images.some((d) => d.digest === `sha256:${attached[1] ?? ''}`)) return [];
  return ofKind(attached[2] === 'sig' ? COSIGN_KINDS.sigs : COSIGN_KINDS.atts);
}

/** Opens a layout: checks `oci-layout` and parses `index.json` once. */
/** A layout source always lists its tags (index.json holds them). */
export type LayoutSource = ImageSource & { listTags(): Promise<readonly string[]> };

export async function openLayoutSource(
  ref: LayoutReference,
  options: LayoutOptions = {},
): Promise<LayoutSource> {
  const dir = ref.path;
  const name = `oci:${dir}`;

  const layoutBytes = await readBounded(path.join(dir, 'oci-layout'), 64 * 1024, `${name}/oci-layout`);
  if (layoutBytes === null) throw unreadable(`${name} is not an OCI image layout: no oci-layout file`);
  let version: unknown;
  try {
    version = (JSON.parse(Buffer.from(layoutBytes).toString('utf8')) as { imageLayoutVersion?: unknown })
      .imageLayoutVersion;
  } catch (e) {
    throw unreadable(`${name}/oci-layout is not JSON`, e);
  }
  if (version !== '1.0.0')
    throw unreadable(`${name}: unsupported imageLayoutVersion ${JSON.stringify(version)}`);

  const indexBytes = await readBounded(
    path.join(dir, 'index.json'),
    MAX_MANIFEST_BYTES,
    `${name}/index.json`,
  );
  if (indexBytes === null) throw unreadable(`${name} has no index.json`);
  let index: ImageIndex;
  try {
    const parsed = parseManifest(indexBytes, MEDIA_TYPES.ociIndex);
    if (parsed.kind !== 'index') throw unreadable(`${name}/index.json is not an image index`);
    index = parsed;
  } catch (e) {
    if (isCountersignError(e) && e.code === 'LAYOUT_UNREADABLE') throw e;
    throw unreadable(`${name}/index.json: ${e instanceof Error ? e.message : String(e)}`, e);
  }

  /** A blob's bytes, hash checked; null when the file is absent. */
  async function readBlob(digest: Digest, limit: number): Promise<Uint8Array | null> {
    // The digest becomes a file name: only sha256 and 64 hex digits, so never a path outside blobs/.
    if (!isDigest(digest))
      throw new CountersignError('INVALID_REFERENCE', `'${String(digest)}' is not a sha256 digest`);
    const bytes = await readBounded(
      path.join(dir, 'blobs', 'sha256', digestHex(digest)),
      limit,
      `${name} blob ${digest}`,
    );
    if (bytes === null) return null;
    const actual = sha256Digest(bytes);
    if (actual !== digest)
      throw new CountersignError('DIGEST_MISMATCH', `${name}: blob ${digest} hashes to ${actual}`);
    return bytes;
  }

  async function readManifest(
    digest: Digest,
    descriptorType: string | undefined,
  ): Promise<FetchedManifest | null> {
    const bytes = await readBlob(digest, MAX_MANIFEST_BYTES);
    if (bytes === null) return null;
    const manifest = parseManifest(bytes, descriptorType);
    return { digest, mediaType: manifest.mediaType, bytes };
  }

  return {
    name,

    async getManifest(tagOrDigest: string): Promise<FetchedManifest | null> {
      if (tagOrDigest.startsWith('sha256:')) {
        if (!isDigest(tagOrDigest)) {
          throw new CountersignError('INVALID_REFERENCE', `'${tagOrDigest}' is not a sha256 digest`);
        }
        const listed = index.manifests.find((d) => d.digest === tagOrDigest);
        return readManifest(tagOrDigest, listed?.mediaType);
      }
      if (!isTag(tagOrDigest))
        throw new CountersignError('INVALID_REFERENCE', `'${tagOrDigest}' is not a tag`);
      const found = descriptorsForTag(index, tagOrDigest);
      const digests = new Set(found.map((d) => d.digest));
      if (digests.size > 1) {
        throw unreadable(`${name}: tag '${tagOrDigest}' names ${digests.size} different manifests`);
      }
      const descriptor = found[0];
      if (descriptor === undefined) return null;
      return readManifest(descriptor.digest, descriptor.mediaType);
    },

    async getBlob(digest: Digest, maxBytes: number): Promise<Uint8Array> {
      const limit = Math.min(maxBytes, options.maxBlobBytes ?? Number.MAX_SAFE_INTEGER);
      const bytes = await readBlob(digest, limit);
      if (bytes === null) throw unreadable(`${name}: blob ${digest} is missing`);
      return bytes;
    },

    /** The tags index.json names (`org.opencontainers.image.ref.name`). */
    listTags(): Promise<readonly string[]> {
      const tags = new Set<string>();
      for (const entry of index.manifests) {
        const refName = entry.annotations?.[REF_NAME_ANNOTATION];
        if (refName === undefined) continue;
        const tag = refName.includes(':') ? refName.slice(refName.lastIndexOf(':') + 1) : refName;
        if (isTag(tag)) tags.add(tag);
      }
      return Promise.resolve([...tags]);
    },

    /**
     * The layout has no referrers API; an index is built from the index.json entries that are
     * manifests whose `subject` is the digest (image-spec `manifest.md`, "subject"). None: null.
     */
    async getReferrers(digest: Digest): Promise<FetchedManifest | null> {
      if (!isDigest(digest))
        throw new CountersignError('INVALID_REFERENCE', `'${String(digest)}' is not a sha256 digest`);
      const referrers: Record<string, unknown>[] = [];
      const seen = new Set<string>();
      for (const entry of index.manifests) {
        if (seen.has(entry.digest)) continue;
        seen.add(entry.digest);
        if (entry.mediaType !== MEDIA_TYPES.ociManifest) continue;
        let fetched: FetchedManifest | null;
        try {
          fetched = await readManifest(entry.digest, entry.mediaType);
        } catch (e) {
          // An unrelated broken entry is not this image's referrer; integrity errors still count.
          if (isCountersignError(e) && e.code.startsWith('MANIFEST_')) continue;
          throw e;
        }
        if (fetched === null) continue;
        const manifest = parseManifest(fetched.bytes, fetched.mediaType);
        if (manifest.kind !== 'manifest' || manifest.subject?.digest !== digest) continue;
        // distribution-spec "Listing Referrers": artifactType falls back to the config media type.
        referrers.push({
          mediaType: manifest.mediaType,
          digest: fetched.digest,
          size: fetched.bytes.length,
          artifactType: manifest.artifactType ?? manifest.config.mediaType,
          ...(manifest.annotations === undefined ? {} : { annotations: manifest.annotations }),
        });
      }
      if (referrers.length === 0) return null;
      const bytes = new TextEncoder().encode(
        JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: referrers }),
      );
      return { digest: sha256Digest(bytes), mediaType: MEDIA_TYPES.ociIndex, bytes };
    },
  };
}
