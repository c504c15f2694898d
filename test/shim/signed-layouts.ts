/**
 * OCI layouts signed the way cosign signs (legacy format: a `sha256-<hex>.sig` manifest, one
 * simple-signing layer per signature) by keys, by certificates from a CA-only root, or by
 * Fulcio-style certificates with their Rekor SET as cosign stores it. Shared by the drop-in's
 * end-to-end tests and the server's require tests.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { pem } from '../support/virtual-sigstore.ts';
import type { Leaf, VirtualSigstore } from '../support/virtual-sigstore.ts';
import { SIG_ANNOTATION } from '../server/fixtures.ts';
import type { Sign } from '../server/fixtures.ts';

export { byKey, writeLayout } from '../server/fixtures.ts';
export type { Sign } from '../server/fixtures.ts';

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
