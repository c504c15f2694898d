import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifySubjectAlternativeName } from '@sigstore/verify/dist/policy.js';
import { anchoredRegExp, matchIdentity } from '../../src/bundle/index.ts';
import type { CertificateIdentity } from '../../src/bundle/index.ts';

const cert = (san: string, issuer?: string): CertificateIdentity => ({
  subjectAlternativeNames: [san],
  ...(issuer !== undefined ? { issuer } : {}),
  codeSigning: true,
  fingerprint: '00',
});

describe('exact identities', () => {
  describe('when a raw string would be an unanchored pattern in @sigstore/verify', () => {
    it('is matched exactly here, refusing the longer identity the library accepts', () => {
      const evil = 'qa@hospital.example.attacker.test';
      // The library's own check: a raw string is an unanchored pattern and accepts the evil SAN.
      assert.doesNotThrow(() => {
        verifySubjectAlternativeName('qa@hospital.example', evil);
      });
      const r = matchIdentity(cert(evil), { subject: 'qa@hospital.example' });
      assert.equal(r.ok ? '' : r.code, 'IDENTITY_MISMATCH');
      assert.equal(matchIdentity(cert('qa@hospital.example'), { subject: 'qa@hospital.example' }).ok, true);
    });
  });
});

describe('anchoredRegExp', () => {
  it('anchors alternations as a whole', () => {
    assert.equal(anchoredRegExp('a|b').test('xa'), false);
    assert.equal(anchoredRegExp('a|b').test('b'), true);
  });

  it('matches a catastrophic-backtracking pattern in linear time (RE2)', () => {
    const started = process.hrtime.bigint();
    assert.equal(anchoredRegExp('(a+)+b').test(`${'a'.repeat(100_000)}c`), false);
    // Not a timing assertion of the product: a backtracking engine would not return at all.
    assert.ok(process.hrtime.bigint() - started < 10_000_000_000n);
  });

  it('refuses patterns that are too long or do not parse', () => {
    assert.throws(() => anchoredRegExp('a'.repeat(2000)), /longer than/);
    assert.throws(() => anchoredRegExp('(a'), /missing closing/);
    assert.throws(() => anchoredRegExp('(\\pL|\\pN){999}'), /too complex/);
  });
});

describe('matchIdentity', () => {
  describe('when the matcher names nothing', () => {
    it('refuses to match any certificate', () => {
      const r = matchIdentity(cert('qa@hospital.example'), {});
      assert.equal(r.ok ? '' : r.code, 'IDENTITY_MISMATCH');
    });
  });

  describe('when the pattern is not a valid regular expression', () => {
    it('fails with IDENTITY_MISMATCH instead of throwing', () => {
      const r = matchIdentity(cert('qa@hospital.example'), { subjectRegExp: '(' });
      assert.equal(r.ok ? '' : r.code, 'IDENTITY_MISMATCH');
    });
  });

  describe('when the certificate has no issuer and the matcher wants one', () => {
    it('fails with ISSUER_MISMATCH', () => {
      const r = matchIdentity(cert('qa@hospital.example'), {
        subject: 'qa@hospital.example',
        issuer: 'https://sso',
      });
      assert.equal(r.ok ? '' : r.code, 'ISSUER_MISMATCH');
    });
  });

  describe('when an issuer pattern would match unanchored', () => {
    it('fails with ISSUER_MISMATCH', () => {
      const r = matchIdentity(cert('qa@hospital.example', 'https://sso.hospital.example.attacker.test'), {
        subject: 'qa@hospital.example',
        issuerRegExp: 'https://sso\\.hospital\\.example',
      });
      assert.equal(r.ok ? '' : r.code, 'ISSUER_MISMATCH');
    });
  });

  describe('when a CA-only certificate has no issuer and none is asked', () => {
    it('matches on the subject alone', () => {
      const r = matchIdentity(cert('qa@hospital.example'), { subject: 'qa@hospital.example' });
      assert.deepEqual(r, {
        ok: true,
        identity: { kind: 'certificate', subject: 'qa@hospital.example', certificateFingerprint: '00' },
      });
    });
  });
});
