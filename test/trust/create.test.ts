import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isCountersignError } from '../../src/errors.ts';
import { verifyBundle } from '../../src/bundle/index.ts';
import { createTrustedRoot, parseTrustedRoot } from '../../src/trust/index.ts';
import { VirtualSigstore, derOf, pem } from '../support/virtual-sigstore.ts';

describe('createTrustedRoot', () => {
  let sigstore: VirtualSigstore;
  let caChainPem: string;
  before(async () => {
    sigstore = await VirtualSigstore.create();
    caChainPem =
      pem('CERTIFICATE', derOf(sigstore.ca.intermediate)) + pem('CERTIFICATE', derOf(sigstore.ca.root));
  });

  describe('when given a CA chain, Rekor key, CT key and TSA chain', () => {
    it('builds a root that verifies bundles of that Sigstore', async () => {
      const json = createTrustedRoot({
        caChainPem,
        rekorKeyPem: pem('PUBLIC KEY', sigstore.rekorKeys.spki),
        ctlogKeyPem: pem('PUBLIC KEY', sigstore.ctlogKeys.spki),
        tsaChainPem: sigstore.tsaChain.map((c) => pem('CERTIFICATE', derOf(c))).join(''),
      });
      const root = parseTrustedRoot(json, 'created');
      assert.deepEqual(
        [root.hasTlogs, root.hasCtlogs, root.hasTimestampAuthorities, root.caOnly],
        [true, true, true, false],
      );
      const tlog = (
        json['tlogs'] as {
          logId: { keyId: string };
          publicKey: { keyDetails: string; validFor: { start: string } };
        }[]
      )[0];
      assert.ok(tlog);
      assert.equal(tlog.logId.keyId, createHash('sha256').update(sigstore.rekorKeys.spki).digest('base64'));
      assert.equal(tlog.publicKey.keyDetails, 'PKIX_ECDSA_P256_SHA_256');
      assert.equal(tlog.publicKey.validFor.start, '1970-01-01T00:00:00.000Z');

      const artifact = Buffer.from('payload');
      const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
      const result = verifyBundle({
        bundleJson: sigstore.bundleForArtifact(leaf, artifact),
        artifact: { kind: 'bytes', data: artifact },
        trustRoot: root,
        identity: { subject: 'qa@hospital.example', issuer: 'https://sso.hospital.example' },
      });
      assert.equal(result.ok ? 'ok' : `${result.code}: ${result.detail}`, 'ok');
    });
  });

  describe('when given only a CA chain', () => {
    it('builds a CA-only root starting at the root notBefore, or at validFrom', () => {
      const json = createTrustedRoot({ caChainPem });
      assert.equal(parseTrustedRoot(json, 'ca').caOnly, true);
      const ca = (json['certificateAuthorities'] as { validFor: { start: string } }[])[0];
      assert.equal(ca?.validFor.start, sigstore.ca.root.notBefore.toISOString());
      const from = new Date('2025-01-01T00:00:00Z');
      const json2 = createTrustedRoot({ caChainPem, validFrom: from });
      assert.equal(
        (json2['certificateAuthorities'] as { validFor: { start: string } }[])[0]?.validFor.start,
        from.toISOString(),
      );
    });
  });

  describe('when the input is wrong', () => {
    it('rejects a CA chain without certificates', () => {
      assert.throws(
        () => createTrustedRoot({ caChainPem: 'nothing here' }),
        (e: unknown) => isCountersignError(e) && e.code === 'TRUST_ROOT_INVALID',
      );
    });

    it('rejects a leaf certificate in the CA chain', async () => {
      const leaf = await sigstore.issueLeaf();
      assert.throws(
        () => createTrustedRoot({ caChainPem: pem('CERTIFICATE', leaf.der) + caChainPem }),
        (e: unknown) =>
          isCountersignError(e) && e.code === 'TRUST_ROOT_INVALID' && /not a CA/.test(e.message),
      );
    });

    it('rejects a TSA chain that starts with a CA', () => {
      assert.throws(
        () => createTrustedRoot({ caChainPem, tsaChainPem: caChainPem }),
        (e: unknown) => isCountersignError(e) && e.code === 'TRUST_ROOT_INVALID',
      );
    });

    it('rejects a Rekor key that is not a public key', () => {
      assert.throws(
        () => createTrustedRoot({ caChainPem, rekorKeyPem: 'junk' }),
        (e: unknown) => isCountersignError(e) && e.code === 'KEY_INVALID',
      );
    });
  });
});
