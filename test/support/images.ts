/**
 * Minimal Distribution API client for tests (OCI distribution-spec v1.1, "Push" and "Pull"
 * sections): builds small random images and pushes them, reads manifests back, uploads blobs.
 * Deliberately independent of src/oci so that tests of the product do not test it with itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetch } from 'undici';
import type { Response } from 'undici';
import type { TestRegistry } from './registry.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');

export type TestDigest = `sha256:${string}`;

export interface PushedManifest {
  readonly digest: TestDigest;
  readonly manifestBytes: Uint8Array;
  readonly mediaType: string;
}

export interface ManifestResponse extends PushedManifest {
  /** The `Docker-Content-Digest` header as sent (not trusted; for tests about it). */
  readonly headerDigest: string | null;
}

export function sha256Digest(bytes: Uint8Array): TestDigest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The cosign signature tag for an image digest: `sha256-<hex>.sig`. */
export function cosignSignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The OCI 1.1 referrers fallback tag for a digest: `sha256-<hex>`. */
export function referrersFallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

function headers(reg: TestRegistry, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (reg.username !== undefined && reg.password !== undefined) {
    h['authorization'] = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
  }
  return h;
}

/** fetch against the test registry: trusts its CA and sends its credentials. */
export async function registryFetch(
  reg: TestRegistry,
  pathOrUrl: string,
  init: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {},
): Promise<{ status: number; headers: Response['headers']; body: Uint8Array }> {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${reg.url}${pathOrUrl}`;
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: headers(reg, init.headers),
    ...(init.body === undefined ? {} : { body: init.body }),
    dispatcher: reg.dispatcher,
    signal: AbortSignal.timeout(30_000),
  });
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

function expectStatus(what: string, res: { status: number; body: Uint8Array }, ...ok: number[]): void {
  if (!ok.includes(res.status)) {
    throw new Error(`${what}: HTTP ${res.status}: ${Buffer.from(res.body).toString('utf8').slice(0, 500)}`);
  }
}

/** Uploads a blob (POST then monolithic PUT, distribution-spec "Pushing a blob monolithically"). */
export async function uploadBlob(reg: TestRegistry, repo: string, bytes: Uint8Array): Promise<TestDigest> {
  const digest = sha256Digest(bytes);
  const start = await registryFetch(reg, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expectStatus(`start upload to ${repo}`, start, 202);
  const location = start.headers.get('location');
  if (location === null) throw new Error('blob upload: no Location header');
  const target = new URL(location, reg.url);
  target.searchParams.set('digest', digest);
  const put = await registryFetch(reg, target.toString(), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  expectStatus(`upload blob ${digest}`, put, 201);
  return digest;
}

/** PUTs manifest bytes exactly as given under a tag or digest; returns their digest. */
export async function putManifest(
  reg: TestRegistry,
  repo: string,
  ref: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<TestDigest> {
  const res = await registryFetch(reg, `/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: bytes,
  });
  expectStatus(`put manifest ${repo}:${ref}`, res, 201);
  return sha256Digest(bytes);
}

/** GETs a manifest by tag or digest; null on 404. The digest is recomputed over the bytes. */
export async function getManifest(
  reg: TestRegistry,
  repo: string,
  ref: string,
): Promise<ManifestResponse | null> {
  const res = await registryFetch(reg, `/v2/${repo}/manifests/${ref}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (res.status === 404) return null;
  expectStatus(`get manifest ${repo}:${ref}`, res, 200);
  return {
    digest: sha256Digest(res.body),
    manifestBytes: res.body,
    mediaType: res.headers.get('content-type') ?? '',
    headerDigest: res.headers.get('docker-content-digest'),
  };
}

export async function getBlob(reg: TestRegistry, repo: string, digest: string): Promise<Uint8Array> {
  const res = await registryFetch(reg, `/v2/${repo}/blobs/${digest}`);
  expectStatus(`get blob ${digest}`, res, 200);
  return res.body;
}

export async function listTags(reg: TestRegistry, repo: string): Promise<string[]> {
  const res = await registryFetch(reg, `/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  expectStatus(`list tags of ${repo}`, res, 200);
  const parsed = JSON.parse(Buffer.from(res.body).toString('utf8')) as { tags?: string[] | null };
  return parsed.tags ?? [];
}

/** A one-file ustar archive (POSIX.1-1988 ustar header), enough for a valid image layer. */
function tarOneFile(name: string, content: Uint8Array): Uint8Array {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) =>
    header.write(value, offset, length, 'ascii');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0') + '\0';
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(1_704_067_200, 12)); // 2024-01-01: reproducible
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  padded.set(content);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

export interface BuiltImage {
  readonly manifest: PushedManifest;
  readonly config: Uint8Array;
  readonly layer: Uint8Array;
}

export interface ImageOptions {
  /** `oci` (default) or `docker` (schema 2) media types. */
  readonly format?: 'oci' | 'docker';
  readonly architecture?: string;
  readonly os?: string;
}

/**
 * A small valid image whose config and layer are random, so every call yields different digests:
 * one gzip layer holding `/hello.txt`.
 */
export function buildRandomImage(opts: ImageOptions = {}): BuiltImage {
  const docker = opts.format === 'docker';
  const tar = tarOneFile('hello.txt', Buffer.from(`countersign test ${randomBytes(16).toString('hex')}\n`));
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      os: opts.os ?? 'linux',
      config: { Labels: { 'test.nonce': randomBytes(8).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
      config: {
        mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG,
        digest: sha256Digest(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: docker ? DOCKER_LAYER_GZIP : OCI_LAYER_GZIP,
          digest: sha256Digest(layer),
          size: layer.length,
        },
      ],
    }),
  );
  return {
    manifest: {
      digest: sha256Digest(manifest),
      manifestBytes: manifest,
      mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    },
    config,
    layer,
  };
}

/** Builds a random image and pushes its blobs and manifest under `repo:tag`. */
export async function pushImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  opts: ImageOptions = {},
): Promise<PushedManifest> {
  const image = buildRandomImage(opts);
  await uploadBlob(reg, repo, image.config);
  await uploadBlob(reg, repo, image.layer);
  await putManifest(reg, repo, tag, image.manifest.manifestBytes, image.manifest.mediaType);
  return image.manifest;
}

/**
 * Pushes an OCI image index over manifests already in `repo`; sizes and media types are read
 * back from the registry, platforms from the children's configs are not needed by the tests.
 */
export async function pushIndex(
  reg: TestRegistry,
  repo: string,
  tag: string,
  childDigests: readonly string[],
): Promise<PushedManifest> {
  const manifests = [];
  for (const digest of childDigests) {
    const child = await getManifest(reg, repo, digest);
    if (child === null) throw new Error(`pushIndex: ${repo}@${digest} not found`);
    manifests.push({
      mediaType: child.mediaType,
      digest,
      size: child.manifestBytes.length,
      platform: { architecture: 'amd64', os: 'linux' },
    });
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  const digest = await putManifest(reg, repo, tag, bytes, OCI_INDEX);
  return { digest, manifestBytes: bytes, mediaType: OCI_INDEX };
}

/**
 * Writes images into an OCI image layout directory (image-spec "image-layout"), each entry tagged
 * with `org.opencontainers.image.ref.name`: a source for `skopeo copy oci:<dir>:<tag>`.
 */
export async function writeOciLayout(
  dir: string,
  images: readonly { readonly tag: string; readonly image: BuiltImage }[],
): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = (bytes: Uint8Array) =>
    writeFile(path.join(blobs, sha256Digest(bytes).slice('sha256:'.length)), bytes);
  const manifests = [];
  for (const { tag, image } of images) {
    await put(image.config);
    await put(image.layer);
    await put(image.manifest.manifestBytes);
    manifests.push({
      mediaType: image.manifest.mediaType,
      digest: image.manifest.digest,
      size: image.manifest.manifestBytes.length,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    });
  }
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
  );
}
