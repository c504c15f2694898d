/**
 * POST /v1/verify with `require` (what the cosign drop-in sends for --key and
 * --certificate-identity/--certificate-oidc-issuer): resolved against the appliance's own keys and
 * trust roots only, evaluated in addition to the image's policies, recorded in the audit entry.
 * Real cryptography throughout: P-256 keys, a CA-only trust root and a Fulcio-style one (virtual
 * Sigstore: SCTs and Rekor SETs), legacy cosign signatures in OCI layouts.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTrustedRoot } from '../../src/trust/index.ts';
import { parsePublicKeyPem } from '../../src/verify/keys.ts';
import { VirtualSigstore, derOf, pem } from '../support/virtual-sigstore.ts';
import { byCertificate, byKey, writeLayout } from '../shim/signed-layouts.ts';
import type { Sign } from '../shim/signed-layouts.ts';
import { bearer, p256Key, startTestApp } from './fixtures.ts';
import type { TestEnv, TestKeyPair } from './fixtures.ts';

const ISSUER = 'https://sso.vendor.example';

interface Answer {
  allowed: boolean;
  code: string | null;
  digest: string | null;
  policies: {
    name: string;
    source: string;
    contentHash: string;
    passed: boolean;
    signers: { name: string; satisfied: boolean }[];
  }[];
  receipt: { index: number };
}

/** sha256 hex over the SPKI DER, as the drop-in computes it from a --key file. */
const fingerprintOf = (k: TestKeyPair): string => parsePublicKeyPem(k.publicPem, 'k').fingerprint;

describe('POST /v1/verify with require', () => {
  let env: TestEnv;
  let second: TestKeyPair;
  let n = 0;

  const verify = (image: string, extra: Record<string, unknown> = {}) =>
    env.app.inject({
      method: 'POST',
      url: '/v1/verify',
      headers: bearer(env.tokens.verifier),
      payload: { image, ...extra },
    });
  const layout = (signers: readonly Sign[]): string => {
    const dir = path.join(env.layouts, `image-${n++}`);
    writeLayout(dir, signers);
    return `oci:${dir}`;
  };
  const reload = async (): Promise<void> => {
    await env.appliance.reload('test', 'fixtures');
  };
  const entryOf = (a: Answer): Record<string, unknown> =>
    JSON.parse(env.data.audit.getEntry(a.receipt.index).entry.payloadText) as Record<string, unknown>;

  beforeEach(async () => {
    // The default policy: one signature by keys/vendor.pub. keys/second.pub is configured but in no policy.
    env = await startTestApp();
    second = p256Key();
    writeFileSync(path.join(env.configDir, 'keys', 'second.pub'), second.publicPem);
    await reload();
  });
  afterEach(async () => {
    await env.close();
  });

  describe('when require names configured keys', () => {
    it('allows when the image passes its policy and the ad-hoc policy, and lists both', async () => {
      const image = layout([byKey(env.key), byKey(second)]);
      const res = await verify(image, { require: { keys: [fingerprintOf(second)] } });
      assert.equal(res.statusCode, 200, res.body);
      const a = res.json<Answer>();
      assert.equal(a.allowed, true, JSON.stringify(a));
      assert.deepEqual(
        a.policies.map((p) => [p.name, p.source, p.passed]),
        [
          ['ad-hoc', 'ad-hoc', true],
          ['default', 'policies/default.yaml', true],
        ],
      );
      assert.deepEqual(
        a.policies[0]?.signers.map((s) => s.name),
        ['second.pub'],
      );
    });

    it('denies when the configured policy fails and the ad-hoc one passes', async () => {
      const image = layout([byKey(second)]);
      const a = (await verify(image, { require: { keys: [fingerprintOf(second)] } })).json<Answer>();
      assert.equal(a.allowed, false);
      assert.equal(a.code, 'SIGNATURE_INVALID');
      assert.deepEqual(
        a.policies.map((p) => [p.name, p.passed]),
        [
          ['ad-hoc', true],
          ['default', false],
        ],
      );
    });

    it('denies when the configured policy passes and the ad-hoc one fails', async () => {
      const image = layout([byKey(env.key)]);
      const a = (await verify(image, { require: { keys: [fingerprintOf(second)] } })).json<Answer>();
      assert.equal(a.allowed, false);
      assert.equal(a.code, 'SIGNATURE_INVALID');
      assert.deepEqual(
        a.policies.map((p) => [p.name, p.passed]),
        [
          ['ad-hoc', false],
          ['default', true],
        ],
      );
    });

    it('is satisfied by any one of the listed keys, as cosign is', async () => {
      const image = layout([byKey(env.key)]);
      const a = (
        await verify(image, { require: { keys: [fingerprintOf(second), fingerprintOf(env.key)] } })
      ).json<Answer>();
      assert.equal(a.allowed, true, JSON.stringify(a));
    });

    it('records the require and the ad-hoc policy version in the audit entry', async () => {
      const image = layout([byKey(env.key)]);
      const require = { keys: [fingerprintOf(env.key)] };
      const a = (await verify(image, { require, policy: 'default' })).json<Answer>();
      assert.equal(a.allowed, true);
      const adHoc = a.policies.find((p) => p.source === 'ad-hoc');
      assert.ok(adHoc);
      const payload = entryOf(a);
      assert.deepEqual(payload['require'], require);
      assert.deepEqual(payload['adHocPolicy'], {
        name: 'ad-hoc',
        contentHash: adHoc.contentHash,
        signers: ['vendor.pub'],
      });
      assert.equal(payload['requestedPolicy'], 'default');
      assert.equal(payload['usedDefaultPolicy'], true);
      const recorded = payload['policies'] as { name: string; contentHash: string; source: string }[];
      assert.deepEqual(
        recorded.map((p) => [p.name, p.source, p.contentHash]),
        a.policies.map((p) => [p.name, p.source, p.contentHash]),
      );
    });

    it('never answers a different require from the decision cache', async () => {
      const image = layout([byKey(env.key)]);
      const first = (await verify(image, { require: { keys: [fingerprintOf(env.key)] } })).json<Answer>();
      assert.equal(first.allowed, true);
      const again = (await verify(image, { require: { keys: [fingerprintOf(env.key)] } })).json<
        Answer & { cached: boolean }
      >();
      assert.equal(again.cached, true);
      const other = (await verify(image, { require: { keys: [fingerprintOf(second)] } })).json<
        Answer & { cached: boolean }
      >();
      assert.equal(other.allowed, false);
      assert.equal(other.cached, false);
    });
  });

  describe('when require names a key the appliance does not hold', () => {
    it('answers 400 KEY_INVALID for an unknown fingerprint and records nothing', async () => {
      const before = env.data.audit.size();
      const res = await verify(layout([byKey(env.key)]), { require: { keys: ['ab'.repeat(32)] } });
      assert.equal(res.statusCode, 400);
      const body = res.json<{ code: string; message: string }>();
      assert.equal(body.code, 'KEY_INVALID');
      assert.match(body.message, /key is not one of this appliance's keys/);
      assert.equal(env.data.audit.size(), before);
    });

    it('does not let a caller bring its own key, even one that signed the image', async () => {
      const own = p256Key();
      const res = await verify(layout([byKey(env.key), byKey(own)]), {
        require: { keys: [fingerprintOf(own)] },
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'KEY_INVALID');
    });

    it('refuses a fingerprint that is not sha256 hex', async () => {
      const spki = createPublicKey(env.key.publicPem).export({ type: 'spki', format: 'der' });
      for (const key of [
        spki.toString('base64'),
        `sha256:${fingerprintOf(env.key)}`,
        fingerprintOf(env.key).toUpperCase(),
      ]) {
        const res = await verify(layout([]), { require: { keys: [key] } });
        assert.equal(res.statusCode, 400, key);
        assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
      }
    });
  });

  describe('when no configured policy applies to the image', () => {
    it('denies NO_MATCHING_POLICY although the ad-hoc policy would pass', async () => {
      writeFileSync(
        path.join(env.configDir, 'policies', 'default.yaml'),
        'name: elsewhere\nimages: ["registry.example/other/**"]\nsigners:\n  - { name: vendor, key: vendor.pub }\nthreshold: 1\n',
      );
      await reload();
      const a = (
        await verify(layout([byKey(env.key)]), { require: { keys: [fingerprintOf(env.key)] } })
      ).json<Answer>();
      assert.equal(a.allowed, false);
      assert.equal(a.code, 'NO_MATCHING_POLICY');
      assert.deepEqual(a.policies, []);
      // The request is on the record all the same.
      const payload = entryOf(a);
      assert.deepEqual(payload['require'], { keys: [fingerprintOf(env.key)] });
      assert.equal((payload['adHocPolicy'] as { name: string }).name, 'ad-hoc');
    });
  });

  describe('when a policy is named as well', () => {
    it('keeps the default policy of an image no pattern matches', async () => {
      writeFileSync(
        path.join(env.configDir, 'policies', 'lax.yaml'),
        'name: lax\nimages: ["registry.example/other/**"]\nsigners:\n  - { name: second, key: second.pub }\nthreshold: 1\n',
      );
      await reload();
      // Signed by second.pub only: lax passes, the image's own (default) policy does not.
      const a = (await verify(layout([byKey(second)]), { policy: 'lax' })).json<Answer>();
      assert.equal(a.allowed, false);
      assert.deepEqual(
        a.policies.map((p) => [p.name, p.passed]),
        [
          ['default', false],
          ['lax', true],
        ],
      );
    });
  });

  describe('when require names a certificate identity', () => {
    let sigstore: VirtualSigstore;
    const writeRoot = (name: string, doc: Record<string, unknown>): void => {
      mkdirSync(path.join(env.configDir, 'trust-root', name), { recursive: true });
      writeFileSync(path.join(env.configDir, 'trust-root', name, 'trusted_root.json'), JSON.stringify(doc));
    };
    const caOnlyRoot = (): Record<string, unknown> =>
      createTrustedRoot({
        caChainPem: [sigstore.ca.intermediate, sigstore.ca.root]
          .map((c) => pem('CERTIFICATE', derOf(c)))
          .join(''),
      });

    beforeEach(async () => {
      sigstore = await VirtualSigstore.create();
    });

    describe('under the only Fulcio-style trust root', () => {
      beforeEach(async () => {
        writeRoot('vendor-sigstore', sigstore.trustedRoot());
        writeRoot('corporate', caOnlyRoot());
        await reload();
      });

      it('allows an image signed by that identity and issuer, without naming the root', async () => {
        const leaf = await sigstore.issueLeaf({ email: 'ci@vendor.example', issuer: ISSUER });
        const image = layout([byKey(env.key), byCertificate(leaf, sigstore)]);
        const require = { certificateIdentity: 'ci@vendor.example', certificateOidcIssuer: ISSUER };
        const a = (await verify(image, { require })).json<Answer>();
        assert.equal(a.allowed, true, JSON.stringify(a));
        const adHoc = a.policies.find((p) => p.source === 'ad-hoc');
        assert.deepEqual(
          adHoc?.signers.map((s) => [s.name, s.satisfied]),
          [['certificate-identity', true]],
        );
      });

      it('denies another identity or another issuer', async () => {
        const leaf = await sigstore.issueLeaf({ email: 'ci@vendor.example', issuer: ISSUER });
        const image = layout([byKey(env.key), byCertificate(leaf, sigstore)]);
        const wrongId = (
          await verify(image, {
            require: { certificateIdentity: 'other@vendor.example', certificateOidcIssuer: ISSUER },
          })
        ).json<Answer>();
        assert.equal(wrongId.allowed, false);
        assert.equal(wrongId.code, 'IDENTITY_MISMATCH');
        const wrongIssuer = (
          await verify(image, {
            require: {
              certificateIdentityRegexp: '.*@vendor\\.example',
              certificateOidcIssuer: 'https://elsewhere.example',
            },
          })
        ).json<Answer>();
        assert.equal(wrongIssuer.allowed, false);
        assert.equal(wrongIssuer.code, 'ISSUER_MISMATCH');
      });

      it('answers 400 without an issuer: a Fulcio identity is checked with its issuer', async () => {
        const res = await verify(layout([]), { require: { certificateIdentity: 'ci@vendor.example' } });
        assert.equal(res.statusCode, 400);
        assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
        assert.match(res.json<{ message: string }>().message, /certificateOidcIssuer .* is required/);
      });
    });

    describe('under a CA-only trust root', () => {
      beforeEach(async () => {
        writeRoot('corporate', caOnlyRoot());
        await reload();
      });

      it('allows an image signed by that identity when the root is named, without an issuer', async () => {
        const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example', issuer: null, sct: false });
        const image = layout([byKey(env.key), byCertificate(leaf)]);
        const a = (
          await verify(image, {
            require: { certificateIdentity: 'qa@hospital.example', trustRoot: 'corporate' },
          })
        ).json<Answer>();
        assert.equal(a.allowed, true, JSON.stringify(a));
        const other = (
          await verify(image, {
            require: { certificateIdentity: 'it@hospital.example', trustRoot: 'corporate' },
          })
        ).json<Answer>();
        assert.equal(other.allowed, false);
      });

      it('never picks a CA-only root by itself: 400 asking for trustRoot', async () => {
        const res = await verify(layout([]), { require: { certificateIdentity: 'qa@hospital.example' } });
        assert.equal(res.statusCode, 400);
        assert.match(res.json<{ message: string }>().message, /trustRoot is required/);
      });

      it('answers 400 for an issuer it cannot check under a CA-only root', async () => {
        const res = await verify(layout([]), {
          require: {
            certificateIdentity: 'qa@hospital.example',
            certificateOidcIssuer: ISSUER,
            trustRoot: 'corporate',
          },
        });
        assert.equal(res.statusCode, 400);
        assert.match(res.json<{ message: string }>().message, /CA-only/);
      });
    });

    describe('with two Fulcio-style roots or an unknown one', () => {
      it('answers 400 asking which root, and TRUST_ROOT_INVALID for a root it does not have', async () => {
        writeRoot('a', sigstore.trustedRoot());
        writeRoot('b', (await VirtualSigstore.create()).trustedRoot());
        await reload();
        const require = { certificateIdentity: 'ci@vendor.example', certificateOidcIssuer: ISSUER };
        const ambiguous = await verify(layout([]), { require });
        assert.equal(ambiguous.statusCode, 400);
        assert.match(ambiguous.json<{ message: string }>().message, /2 Fulcio-style trust roots \(a, b\)/);
        const unknown = await verify(layout([]), { require: { ...require, trustRoot: 'c' } });
        assert.equal(unknown.statusCode, 400);
        assert.equal(unknown.json<{ code: string }>().code, 'TRUST_ROOT_INVALID');
      });
    });
  });

  describe('when require is malformed', () => {
    for (const [what, require] of [
      ['empty', {}],
      ['an unknown field', { keys: ['ab'.repeat(32)], trustedRoot: 'x' }],
      [
        'identity and identity regexp',
        { certificateIdentity: 'a', certificateIdentityRegexp: 'a', certificateOidcIssuer: ISSUER },
      ],
      [
        'issuer and issuer regexp',
        { certificateIdentity: 'a', certificateOidcIssuer: ISSUER, certificateOidcIssuerRegexp: '.*' },
      ],
      ['an issuer alone', { certificateOidcIssuer: ISSUER }],
      ['a trust root alone', { trustRoot: 'corporate' }],
      ['too many keys', { keys: Array.from({ length: 17 }, (_, i) => i.toString(16).padStart(64, '0')) }],
      ['an empty key list', { keys: [] }],
      ['a regexp RE2 rejects', { certificateIdentityRegexp: '(a', certificateOidcIssuer: ISSUER }],
      ['an overlong identity', { certificateIdentity: 'a'.repeat(1025), certificateOidcIssuer: ISSUER }],
    ] as const) {
      it(`answers 400 REQUEST_INVALID for ${what} and records nothing`, async () => {
        const before = env.data.audit.size();
        const res = await verify(layout([byKey(env.key)]), { require });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
        assert.equal(env.data.audit.size(), before);
      });
    }
  });
});
