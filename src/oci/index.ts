/** The OCI layer's public face: references, manifests, and sources (registry or OCI layout). */
import { openLayoutSource } from './layout.ts';
import { createRegistrySource } from './registry-client.ts';
import type { ClosableImageSource, RegistryOptions } from './registry-client.ts';
import type { ImageReference } from './types.ts';

export type * from './types.ts';
export { MEDIA_TYPES, SCHEMA1_MEDIA_TYPES } from './types.ts';
export { isDigest, isTag, sha256Digest } from './digest.ts';
export {
  DOCKER_HUB_REGISTRY,
  formatReference,
  normalisedName,
  parseReference,
  pinnedReference,
} from './reference.ts';
export { bareMediaType, parseManifest } from './manifest.ts';
export { credentialsFor, loadDockerConfig, parseDockerConfig } from './docker-config.ts';
export type { DockerConfig, RegistryCredentials } from './docker-config.ts';
export { MAX_MANIFEST_BYTES, createRegistryClient, createRegistrySource } from './registry-client.ts';
export type {
  ClosableImageSource,
  RegistryClient,
  RegistryOptions,
  RegistryRequestEvent,
} from './registry-client.ts';
export { COSIGN_KINDS, REF_NAME_ANNOTATION, openLayoutSource } from './layout.ts';

/**
 * The source an image reference is read from: a registry repository, or an OCI layout directory
 * (its `oci-layout` and `index.json` are checked now). close() releases registry connections.
 */
export async function openImageSource(
  ref: ImageReference,
  options: RegistryOptions = {},
): Promise<ClosableImageSource> {
  switch (ref.kind) {
    case 'registry':
      return createRegistrySource(ref, options);
    case 'layout': {
      const layout = await openLayoutSource(
        ref,
        options.maxBlobBytes === undefined ? {} : { maxBlobBytes: options.maxBlobBytes },
      );
      return {
        name: layout.name,
        getManifest: (tagOrDigest) => layout.getManifest(tagOrDigest),
        getBlob: (digest, maxBytes) => layout.getBlob(digest, maxBytes),
        getReferrers: (digest) => layout.getReferrers(digest),
        listTags: () => layout.listTags(),
        close: () => Promise.resolve(),
      };
    }
  }
}
