import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { verifyBundle } from '../../src/bundle/index.ts';
import type { BundleArtifact } from '../../src/bundle/index.ts';
import { parseTrustedRoot } from '../../src/trust/index.ts';
import type { TrustRoot } from '../../src/trust/index.ts';
import { publicKeyMaterial } from '../../src/verify/keys.ts';
import type { IdentityMatcher, SignatureCheck } from '../../src/verify/types.ts';
import { VirtualSigstore, createCertificateAuthority, generateKeyPair } from '../support/virtual-sigstore.ts';

const ARTIFACT = Buffer.from('registry.hospital.example/vendor/algo@sha256:0123\n');
const IDENTITY: IdentityMatcher = { subject: 'qa@hospital.example', issuer: 'https://sso.hospital.example' };
const MINUTE = 60_000;

function bytes(data: Uint8Array = ARTIFACT): BundleArtifact {
  return { kind: 'bytes', data };
}

function digestOf(data: Uint8Array = ARTIFACT): BundleArtifact {
  return { kind: 'digest', sha256Hex: createHash('sha256').update(data).digest('hex') };
}

function assertFails(result: SignatureCheck, code: string): void {
  if (result.ok) assert.fail(`expected failure ${code}, got success: ${result.detail}`);
  assert.equal(result.code, code, result.detail);
}

function assertOk(result: SignatureCheck): asserts result is Extract<SignatureCheck, { ok: true }> {
  if (!result.ok) assert.fail(`expected success, got ${result.code}: ${result.detail}`);
}

describe('verifyBundle', () => {
  let sigstore: VirtualSigstore;
  let root: TrustRoot;

  before(async () => {
    sigstore = await VirtualSigstore.create();
    root = parseTrustedRoot(sigstore.trustedRoot(), 'virtual');
  });

  describe('when a Fulcio-style certificate signed the artifact', () => {
    it('accepts it and reports the certificate identity', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const result = verifyBundle({
        bundleJson: JSON.stringify(sigstore.bundleForArtifact(leaf, ARTIFACT)),
        artifact: bytes(),
        trustRoot: root,
        identity: IDENTITY,
      });
      assertOk(result);
      assert.deepEqual(result.identity, {
        kind: 'certificate',
        subject: 'qa@hospital.example',
        issuer: 'https://sso.hospital.example',
        certificateFingerprint: createHash('sha256').update(leaf.der).digest('hex'),
      });
    });

    it('accepts the artifact given only by its sha256 digest', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const result = verifyBundle({
        bundleJson: sigstore.bundleForArtifact(leaf, ARTIFACT),
        artifact: digestOf(),
        trustRoot: root,
        identity: IDENTITY,
      });
      assertOk(result);
    });

    it('accepts the legacy issuer extension 1.3.6.1.4.1.57264.1.1', async () => {
      const leaf = await sigstore.issueLeaf({
        email: 'qa@hospital.example',
        issuer: null,
        legacyIssuer: 'https://sso.hospital.example',
      });
      const result = verifyBundle({
        bundleJson: sigstore.bundleForArtifact(leaf, ARTIFACT),
        artifact: bytes(),
        trustRoot: root,
        identity: IDENTITY,
      });
      assertOk(result);
    });

    it('rejects another artifact', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      const other = Buffer.from('something else');
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(other), trustRoot: root, identity: IDENTITY }),
        'SUBJECT_DIGEST_MISMATCH',
      );
      assertFails(
        verifyBundle({ bundleJson, artifact: digestOf(other), trustRoot: root, identity: IDENTITY }),
        'SUBJECT_DIGEST_MISMATCH',
      );
    });
  });

  describe('when the certificate is not good enough', () => {
    it('rejects a certificate that expired before the log entry was made', async () => {
      const notBefore = new Date(Date.now() - 60 * MINUTE);
      const leaf = await sigstore.issueLeaf({
        email: 'qa@hospital.example',
        notBefore,
        notAfter: new Date(notBefore.getTime() + 10 * MINUTE),
      });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT, { integratedTime: new Date() });
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'CERTIFICATE_EXPIRED',
      );
    });

    it("rejects a certificate issued outside the CA's validity window in the trusted root", async () => {
      const windowed = parseTrustedRoot(
        sigstore.trustedRoot({
          caValidFor: {
            start: new Date(Date.now() - 20 * 24 * 60 * MINUTE),
            end: new Date(Date.now() - 10 * 24 * 60 * MINUTE),
          },
        }),
        'windowed',
      );
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: windowed, identity: IDENTITY }),
        'CERTIFICATE_CHAIN_INVALID',
      );
    });

    it('rejects a chain through an intermediate the trusted root does not hold, even when the bundle carries it', async () => {
      const rogue = await createCertificateAuthority('rogue');
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example', ca: rogue });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT, { includeIntermediate: true });
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'CERTIFICATE_CHAIN_INVALID',
      );
    });

    it('rejects a certificate without an SCT when the trusted root has CT logs', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example', sct: false });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'SCT_MISSING',
      );
    });

    it('rejects a certificate without the codeSigning EKU', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example', codeSigning: false });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'CERTIFICATE_INVALID',
      );
    });
  });

  describe('when the transparency log evidence is wrong', () => {
    it('rejects a SET that signs a different body than the entry carries', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT, { tamperedBody: true });
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'TLOG_INVALID',
      );
    });

    it('rejects a bundle without a log entry when the trusted root has a log', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT, { withoutTlogEntry: true });
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'TLOG_MISSING',
      );
    });
  });

  describe('when the identity does not match', () => {
    it('rejects another subject', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'intruder@hospital.example' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'IDENTITY_MISMATCH',
      );
    });

    it('rejects another issuer', async () => {
      const leaf = await sigstore.issueLeaf({
        email: 'qa@hospital.example',
        issuer: 'https://accounts.example.com',
      });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'ISSUER_MISMATCH',
      );
    });

    it('anchors a subject pattern that would match unanchored', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example.attacker.test' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      const identity: IdentityMatcher = {
        subjectRegExp: 'qa@hospital\\.example',
        issuer: 'https://sso.hospital.example',
      };
      assert.match('qa@hospital.example.attacker.test', new RegExp(identity.subjectRegExp ?? ''));
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity }),
        'IDENTITY_MISMATCH',
      );
    });

    it('treats an exact subject as a literal string, not a pattern', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qaXhospital@example' });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      const identity: IdentityMatcher = {
        subject: 'qa.hospital@example',
        issuer: 'https://sso.hospital.example',
      };
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity }),
        'IDENTITY_MISMATCH',
      );
    });

    it('accepts a matching anchored subject pattern and issuer pattern', async () => {
      const leaf = await sigstore.issueLeaf({
        uri: 'https://ci.hospital.example/pipelines/release@refs/heads/main',
      });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT);
      const identity: IdentityMatcher = {
        subjectRegExp: 'https://ci\\.hospital\\.example/pipelines/[a-z]+@refs/heads/main',
        issuerRegExp: 'https://sso\\.hospital\\.(example|test)',
      };
      const result = verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity });
      assertOk(result);
    });
  });

  describe('when a key signed the bundle', () => {
    it('accepts the key it names and reports the key fingerprint', async () => {
      const keys = await generateKeyPair();
      const key = publicKeyMaterial(keys.publicKey, 'vendor.pub');
      const bundleJson = sigstore.bundleForKey(keys, ARTIFACT);
      for (const artifact of [bytes(), digestOf()]) {
        const result = verifyBundle({ bundleJson, artifact, trustRoot: root, key });
        assertOk(result);
        assert.deepEqual(result.identity, { kind: 'key', fingerprint: key.fingerprint });
      }
    });

    it('rejects another key', async () => {
      const keys = await generateKeyPair();
      const other = publicKeyMaterial((await generateKeyPair()).publicKey, 'other.pub');
      const bundleJson = sigstore.bundleForKey(keys, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, key: other }),
        'SIGNATURE_INVALID',
      );
      assertFails(
        verifyBundle({ bundleJson, artifact: digestOf(), trustRoot: root, key: other }),
        'SIGNATURE_INVALID',
      );
    });

    it('does not apply without a key', async () => {
      const keys = await generateKeyPair();
      const bundleJson = sigstore.bundleForKey(keys, ARTIFACT);
      assertFails(
        verifyBundle({ bundleJson, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'NOT_APPLICABLE',
      );
    });
  });

  describe('when the trust root is a corporate CA without logs', () => {
    it('checks the certificate at the current time and needs no log entry', async () => {
      const caOnly = parseTrustedRoot(
        sigstore.trustedRoot({ withTlog: false, withCtlog: false }),
        'corporate',
      );
      assert.equal(caOnly.caOnly, true);
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example', sct: false });
      const bundleJson = sigstore.bundleForArtifact(leaf, ARTIFACT, { withoutTlogEntry: true });
      const ok = verifyBundle({ bundleJson, artifact: bytes(), trustRoot: caOnly, identity: IDENTITY });
      assertOk(ok);
      const later = verifyBundle({
        bundleJson,
        artifact: bytes(),
        trustRoot: caOnly,
        identity: IDENTITY,
        now: new Date(Date.now() + 60 * MINUTE),
      });
      assertFails(later, 'CERTIFICATE_EXPIRED');
    });
  });

  describe('when the bundle is malformed', () => {
    it('rejects text that is not JSON', () => {
      assertFails(
        verifyBundle({ bundleJson: '{', artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'BUNDLE_INVALID',
      );
    });

    it('rejects an unknown bundle media type', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const bundle = {
        ...sigstore.bundleForArtifact(leaf, ARTIFACT),
        mediaType: 'application/vnd.dev.sigstore.bundle+json;version=99',
      };
      assertFails(
        verifyBundle({ bundleJson: bundle, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'BUNDLE_INVALID',
      );
    });

    it('rejects a bundle whose chain carries a root certificate', async () => {
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const bundle = sigstore.bundleForArtifact(leaf, ARTIFACT) as {
        verificationMaterial: { x509CertificateChain: { certificates: { rawBytes: string }[] } };
      };
      bundle.verificationMaterial.x509CertificateChain.certificates.push({
        rawBytes: Buffer.from(sigstore.ca.root.rawData).toString('base64'),
      });
      assertFails(
        verifyBundle({ bundleJson: bundle, artifact: bytes(), trustRoot: root, identity: IDENTITY }),
        'CERTIFICATE_CHAIN_INVALID',
      );
    });
  });
});
