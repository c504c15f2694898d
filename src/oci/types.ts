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
}
