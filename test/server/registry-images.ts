/**
 * Images on a real registry signed in-process the way `cosign sign --key` signs them: the image,
 * then a `sha256-<hex>.sig` manifest whose one layer is the simple-signing payload with the
 * signature in its annotation. Fast enough to make hundreds of distinct signed images (the
 * benchmark's cold requests need an image nobody has verified yet).
 */
import { sign } from 'node:crypto';
import type { TestRegistry } from '../support/registry.ts';
import {
  OCI_CONFIG,
  OCI_MANIFEST,
  cosignSignatureTag,
  pushImage,
  putManifest,
  uploadBlob,
} from '../support/images.ts';
import { SIG_ANNOTATION, enc, simpleSigningPayload } from './fixtures.ts';
import type { TestKeyPair } from './fixtures.ts';

const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** Pushes a random image as `repo:tag` and, unless `signer` is null, its cosign signature; returns the digest. */
export async function pushSignedImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  signer: TestKeyPair | null,
): Promise<string> {
  const image = await pushImage(reg, repo, tag);
  if (signer === null) return image.digest;
  const payload = simpleSigningPayload(image.digest, `${reg.host}/${repo}`);
  const payloadDigest = await uploadBlob(reg, repo, payload);
  // As cosign writes it: the config names the payload layer, so each signature's is distinct.
  const config = enc({
    architecture: '',
    created: '0001-01-01T00:00:00Z',
    history: [{ created: '0001-01-01T00:00:00Z' }],
    os: '',
    rootfs: { type: 'layers', diff_ids: [payloadDigest] },
    config: {},
  });
  const configDigest = await uploadBlob(reg, repo, config);
  const manifest = enc({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [
      {
        mediaType: SIMPLE_SIGNING,
        digest: payloadDigest,
        size: payload.length,
        annotations: { [SIG_ANNOTATION]: sign('sha256', payload, signer.privateKey).toString('base64') },
      },
    ],
  });
  await putManifest(reg, repo, cosignSignatureTag(image.digest), manifest, OCI_MANIFEST);
  return image.digest;
}
