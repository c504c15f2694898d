import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Signer } from '@sigstore/verify';
import { CountersignError } from '../../src/errors.ts';
import { anchoredRegExp, matchIdentity } from '../../src/verify/identity.ts';
import type { IdentityMatcher, SigningIdentity } from '../../src/verify/types.ts';

const ISSUER = 'https://sso.hospital.example/realms/clinical';

function identity(subject: string, issuer: string | null): SigningIdentity {
  return {
    kind: 'certificate',
    subject,
    ...(issuer === null ? {} : { issuer }),
    certificateFingerprint: '00',
  };
}

const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function signer(subject: string, oids: Record<string, string> = {}): Signer {
  return {
    key: publicKey,
    identity: {
      subjectAlternativeName: subject,
      extensions: { issuer: ISSUER },
      oids: Object.entries(oids).map(([oid, value]) => ({
        oid: { id: oid.split('.').map(Number) },
        value: Buffer.from(value),
      })),
    },
  };
}

function check(
  m: IdentityMatcher,
  subject: string,
  opts: { issuer?: string | null; requireIssuer?: boolean } = {},
) {
  return matchIdentity(
    m,
    identity(subject, opts.issuer === undefined ? ISSUER : opts.issuer),
    signer(subject),
    opts.requireIssuer ?? true,
  );
}

describe('matchIdentity', () => {
  describe('when the identity is exact', () => {
    it('matches the same subject and issuer', () => {
      assert.equal(
        check({ subject: 'qa@hospital.example', issuer: ISSUER }, 'qa@hospital.example'),
        undefined,
      );
    });

    it('refuses a subject that only contains it with IDENTITY_MISMATCH', () => {
      for (const subject of ['xqa@hospital.example', 'qa@hospital.example.evil', 'QA@hospital.example']) {
        assert.equal(
          check({ subject: 'qa@hospital.example', issuer: ISSUER }, subject)?.code,
          'IDENTITY_MISMATCH',
        );
      }
    });

    it('refuses another issuer with ISSUER_MISMATCH', () => {
      assert.equal(
        check({ subject: 'qa@hospital.example', issuer: ISSUER }, 'qa@hospital.example', {
          issuer: `${ISSUER}.evil`,
        })?.code,
        'ISSUER_MISMATCH',
      );
    });
  });

  describe('when the identity is a regular expression', () => {
    it('matches what the whole pattern describes', () => {
      const m = { subjectRegExp: '[a-z]+@hospital\\.example', issuer: ISSUER };
      assert.equal(check(m, 'qa@hospital.example'), undefined);
    });

    it('does not match text that an unanchored pattern would find inside it', () => {
      const m = { subjectRegExp: 'qa@hospital\\.example', issuer: ISSUER };
      // The unanchored pattern finds these: proof the test would fail without anchoring.
      for (const subject of ['evil-qa@hospital.example', 'qa@hospital.example.attacker.net']) {
        assert.ok(new RegExp(m.subjectRegExp).test(subject));
        assert.equal(check(m, subject)?.code, 'IDENTITY_MISMATCH');
      }
    });

    it('anchors every alternative of a pattern with |', () => {
      const m = { subjectRegExp: 'qa@hospital\\.example|release@vendor\\.example', issuer: ISSUER };
      assert.equal(check(m, 'release@vendor.example'), undefined);
      assert.equal(check(m, 'release@vendor.example.evil')?.code, 'IDENTITY_MISMATCH');
      assert.equal(check(m, 'evil.qa@hospital.example')?.code, 'IDENTITY_MISMATCH');
    });

    it('anchors issuer regular expressions too', () => {
      const m = { subject: 'qa@hospital.example', issuerRegExp: 'https://sso\\.hospital\\.example/.*' };
      assert.equal(check(m, 'qa@hospital.example'), undefined);
      assert.equal(
        check(m, 'qa@hospital.example', { issuer: 'https://evil.example/?https://sso.hospital.example/x' })
          ?.code,
        'ISSUER_MISMATCH',
      );
    });

    it('refuses an invalid pattern as a USAGE error', () => {
      assert.throws(
        () => check({ subjectRegExp: '(', issuer: ISSUER }, 'qa@hospital.example'),
        (e: unknown) => e instanceof CountersignError && e.code === 'USAGE',
      );
    });
  });

  describe('when the matcher is incomplete', () => {
    it('requires a subject with IDENTITY_MISMATCH', () => {
      assert.equal(check({ issuer: ISSUER }, 'qa@hospital.example')?.code, 'IDENTITY_MISMATCH');
    });

    it('requires an issuer under a Fulcio-style root with ISSUER_MISMATCH', () => {
      assert.equal(check({ subject: 'qa@hospital.example' }, 'qa@hospital.example')?.code, 'ISSUER_MISMATCH');
    });

    it('does not require an issuer under a CA-only root', () => {
      assert.equal(
        check({ subject: 'qa@hospital.example' }, 'qa@hospital.example', {
          issuer: null,
          requireIssuer: false,
        }),
        undefined,
      );
    });
  });

  describe('when the identity is a key', () => {
    it('refuses it with IDENTITY_MISMATCH', () => {
      assert.equal(
        matchIdentity({ subject: 'x' }, { kind: 'key', fingerprint: 'ab' }, signer('x'), false)?.code,
        'IDENTITY_MISMATCH',
      );
    });
  });

  describe('when GitHub workflow fields are required', () => {
    it('compares them exactly with the certificate extensions', () => {
      const s = signer('qa@hospital.example', { '1.3.6.1.4.1.57264.1.5': 'vendor/algo' });
      const m = { subject: 'qa@hospital.example', issuer: ISSUER };
      const id = identity('qa@hospital.example', ISSUER);
      assert.equal(matchIdentity({ ...m, githubWorkflowRepository: 'vendor/algo' }, id, s, true), undefined);
      assert.equal(
        matchIdentity({ ...m, githubWorkflowRepository: 'vendor/alg' }, id, s, true)?.code,
        'IDENTITY_MISMATCH',
      );
      assert.equal(
        matchIdentity({ ...m, githubWorkflowRef: 'refs/heads/main' }, id, s, true)?.code,
        'IDENTITY_MISMATCH',
      );
    });
  });
});

describe('anchoredRegExp', () => {
  it('wraps the pattern in a non-capturing group anchored at both ends', () => {
    const re = anchoredRegExp('a|b', 'test');
    assert.ok(re.test('a'));
    assert.ok(!re.test('ab'));
    assert.ok(!re.test('xa'));
  });
});
