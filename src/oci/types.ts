/** Shared OCI types: references, fetched manifests and the source an image is read from. */

/** A content digest, always `sha256:<64 lowercase hex>` in this product. */
export type Digest = `sha256:${string}`;

export type ImageReference = RegistryReference | LayoutReference;

export interface RegistryReference {
  readonly kind: 'registry';
  /** Registry host as used on the wire, with port: `index.docker.io`, `localhost:5000`. */
  readonly registry: string;
  /** Repository path: `library/alpine`, `vendor/algo`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export interface LayoutReference {
  readonly kind: 'layout';
  /** Directory of the OCI image layout, as given (resolved by the caller). */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

/** A manifest or index as fetched: the raw bytes, their recomputed digest and the media type. */
export interface FetchedManifest {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

/**
 * Where an image and its attachments are read from: a registry repository or an OCI layout.
 * Implementations recompute digests over raw bytes and enforce size limits; they never trust a
 * header or an index entry for a digest.
 */
export interface ImageSource {
  /** `registry/repository` or `oci:<dir>`: what a pinned reference is built on. */
  readonly name: string;
  /** A manifest by tag or digest; null when it does not exist. By digest, the bytes must hash to it. */
  getManifest(tagOrDigest: string): Promise<FetchedManifest | null>;
  /** A blob by digest, at most maxBytes long, hash checked. */
  getBlob(digest: Digest, maxBytes: number): Promise<Uint8Array>;
  /** The OCI 1.1 referrers index for a digest; null when the source does not support the API. */
  getReferrers(digest: Digest): Promise<FetchedManifest | null>;
  /** Tags of the repository (first page), for diagnosing denials; never used to decide an allow. */
  listTags?(): Promise<readonly string[]>;
}

/** Media types this product reads (OCI image-spec v1.1 and Docker image manifest v2 schema 2). */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Schema 1 media types: signed with a key nobody verifies, no content digest worth trusting. */
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];

/** Target platform of an index entry (image-spec `image-index.md`). */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly osVersion?: string;
  readonly osFeatures?: readonly string[];
}

/** A content descriptor (image-spec `descriptor.md`), validated: sha256 digest, non-negative size. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly artifactType?: string;
  readonly platform?: Platform;
  readonly urls?: readonly string[];
}

/** An image manifest: OCI image manifest or Docker v2 schema 2. */
export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An index: OCI image index or Docker manifest list. */
export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export type Manifest = ImageManifest | ImageIndex;
