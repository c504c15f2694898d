/**
 * OCI layouts signed the way cosign signs (legacy format: a `sha256-<hex>.sig` manifest, one
 * simple-signing layer per signature) by keys, by certificates from a CA-only root, or by
 * Fulcio-style certificates with their Rekor SET as cosign stores it. Shared by the drop-in's
 * end-to-end tests and the server's require tests.
 */
import assert from 'node:assert/strict';
import { randomBytes, sign } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pem } from '../support/virtual-sigstore.ts';
import type { Leaf, VirtualSigstore } from '../support/virtual-sigstore.ts';
import { SIG_ANNOTATION, enc, sha256, simpleSigningPayload } from '../server/fixtures.ts';
import type { TestKeyPair } from '../server/fixtures.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

export type Sign = (payload: Uint8Array) => Record<string, string>;

export const byKey =
  (key: TestKeyPair): Sign =>
  (payload) => ({ [SIG_ANNOTATION]: sign('sha256', payload, key.privateKey).toString('base64') });

/** A certificate signature; with a Fulcio-style sigstore, also its Rekor SET as cosign stores it. */
export const byCertificate =
  (leaf: Leaf, sigstore?: VirtualSigstore): Sign =>
  (payload) => {
    const certificate = {
      'dev.sigstore.cosign/certificate': pem('CERTIFICATE', leaf.der),
      'dev.sigstore.cosign/chain': '',
    };
    if (sigstore === undefined) {
      return {
        [SIG_ANNOTATION]: sign('sha256', payload, leaf.keys.privateKey).toString('base64'),
        ...certificate,
      };
    }
    // The Rekor entry holds the signature it logged: the annotation must carry that same one.
    const bundle = sigstore.bundleForArtifact(leaf, payload) as {
      messageSignature: { signature: string };
      verificationMaterial: {
        tlogEntries: {
          logIndex: string;
          logId: { keyId: string };
          integratedTime: string;
          inclusionPromise: { signedEntryTimestamp: string };
          canonicalizedBody: string;
        }[];
      };
    };
    const entry = bundle.verificationMaterial.tlogEntries[0];
    assert.ok(entry);
    const annotations: Record<string, string> = {
      [SIG_ANNOTATION]: bundle.messageSignature.signature,
      ...certificate,
      'dev.sigstore.cosign/bundle': JSON.stringify({
        SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
        Payload: {
          body: entry.canonicalizedBody,
          integratedTime: Number(entry.integratedTime),
          logIndex: Number(entry.logIndex),
          logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
        },
      }),
    };
    return annotations;
  };

/** An OCI layout: one image tagged `latest`, one cosign signature layer per signer. Returns its digest. */
export function writeLayout(dir: string, signers: readonly Sign[]): string {
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
    const payload = simpleSigningPayload(digest);
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
