/**
 * Fixtures for appliance tests: a configuration directory with an in-process P-256 key and a
 * default policy, OCI layouts signed the way `cosign sign --key` does (a `sha256-<hex>.sig`
 * manifest whose layer is the simple-signing payload), and an app with one token per role.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../../src/server/app.ts';
import { createAppliance } from '../../src/server/appliance.ts';
import type { Appliance } from '../../src/server/appliance.ts';
import { openApplianceData } from '../../src/server/data.ts';
import type { ApplianceData } from '../../src/server/data.ts';
import type { Role } from '../../src/auth/index.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIG_ANNOTATION = 'dev.cosignproject.cosign/signature';

export const enc = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
export const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface TestKeyPair {
  readonly privateKey: KeyObject;
  readonly publicPem: string;
}

export function p256Key(): TestKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A cosign simple-signing payload for a digest. */
export function simpleSigningPayload(digest: string, reference = 'registry.example/app'): Uint8Array {
  return enc({
    critical: {
      identity: { 'docker-reference': reference },
      image: { 'docker-manifest-digest': digest },
      type: 'cosign container image signature',
    },
    optional: null,
  });
}

/** Annotations of one cosign signature layer over `payload`. */
export type Sign = (payload: Uint8Array) => Record<string, string>;

/** `cosign sign --key`: the base64 signature annotation. */
export const byKey =
  (key: TestKeyPair): Sign =>
  (payload) => ({ [SIG_ANNOTATION]: sign('sha256', payload, key.privateKey).toString('base64') });

/** A layout signed by `signer` (or unsigned when null); see writeLayout. */
export function writeSignedLayout(
  dir: string,
  signer: TestKeyPair | null,
  options: { signedDigest?: string } = {},
): string {
  return writeLayout(dir, signer === null ? [] : [byKey(signer)], options);
}

/**
 * An OCI layout: one image tagged `latest` and, when there are signers, its cosign signature
 * manifest tagged `sha256-<hex>.sig` with one layer per signer, each over the payload naming
 * `signedDigest` (default: the image's own digest). Returns the image digest.
 */
export function writeLayout(
  dir: string,
  signers: readonly Sign[],
  options: { signedDigest?: string } = {},
): string {
  const blobs = new Map<string, Uint8Array>();
  const put = (b: Uint8Array): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  const config = enc('{}');
  const layer = randomBytes(64);
  const manifest = enc({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: put(config), size: config.length },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(layer), size: layer.length },
    ],
  });
  const digest = put(manifest);
  const entries: Record<string, unknown>[] = [
    {
      mediaType: OCI_MANIFEST,
      digest,
      size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': 'latest' },
    },
  ];
  if (signers.length > 0) {
    const payload = simpleSigningPayload(options.signedDigest ?? digest);
    const sigManifest = enc({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: put(config), size: config.length },
      layers: signers.map((s) => ({
        mediaType: SIMPLE_SIGNING,
        digest: put(payload),
        size: payload.length,
        annotations: s(payload),
      })),
    });
    entries.push({
      mediaType: OCI_MANIFEST,
      digest: put(sigManifest),
      size: sigManifest.length,
      annotations: { 'org.opencontainers.image.ref.name': `${digest.replace(':', '-')}.sig` },
    });
  }
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const [d, b] of blobs) writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }),
  );
  return digest;
}

export const DEFAULT_POLICY = `name: default
default: true
signers:
  - name: vendor
    key: vendor.pub
threshold: 1
`;

export interface TestEnv {
  readonly root: string;
  readonly configDir: string;
  readonly layouts: string;
  readonly key: TestKeyPair;
  readonly data: ApplianceData;
  readonly appliance: Appliance;
  readonly app: FastifyInstance;
  readonly tokens: Readonly<Record<Role, string>>;
  close(): Promise<void>;
}

/** A temporary appliance: config dir, data dir, layouts root, one token per role. */
export async function startTestApp(options: { policy?: string } = {}): Promise<TestEnv> {
  const root = mkdtempSync(path.join(tmpdir(), 'countersign-server-'));
  const configDir = path.join(root, 'config');
  const layouts = path.join(root, 'layouts');
  const key = p256Key();
  mkdirSync(path.join(configDir, 'keys'), { recursive: true });
  mkdirSync(path.join(configDir, 'policies'), { recursive: true });
  mkdirSync(layouts, { recursive: true });
  writeFileSync(path.join(configDir, 'keys', 'vendor.pub'), key.publicPem);
  writeFileSync(path.join(configDir, 'policies', 'default.yaml'), options.policy ?? DEFAULT_POLICY);
  const data = openApplianceData({ dataDir: path.join(configDir, 'data'), softwareVersion: '0.0.0-test' });
  const tokens = {
    verifier: data.tokens.create({ name: 'mercure', role: 'verifier', createdBy: 'test' }).token,
    auditor: data.tokens.create({ name: 'quality', role: 'auditor', createdBy: 'test' }).token,
    admin: data.tokens.create({ name: 'it-admin', role: 'admin', createdBy: 'test' }).token,
  };
  const appliance = await createAppliance({
    configDir,
    audit: data.audit,
    tokens: data.tokens,
    key: data.key,
    softwareVersion: '0.0.0-test',
    layoutRoots: [layouts],
  });
  const app = await createApp({ appliance });
  await app.ready();
  return {
    root,
    configDir,
    layouts,
    key,
    data,
    appliance,
    app,
    tokens,
    async close() {
      await app.close();
      try {
        data.close();
      } catch {
        // already closed by a test
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
