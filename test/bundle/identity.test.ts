import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifySubjectAlternativeName } from '@sigstore/verify/dist/policy.js';
import { anchoredRegExp, exactRegExp, matchIdentity, toSigstorePolicy } from '../../src/bundle/index.ts';
import type { CertificateIdentity } from '../../src/bundle/index.ts';

const cert = (san: string, issuer?: string): CertificateIdentity => ({
  subjectAlternativeNames: [san],
  ...(issuer !== undefined ? { issuer } : {}),
  codeSigning: true,
  fingerprint: '00',
});

describe('toSigstorePolicy', () => {
  describe('when an exact subject is given', () => {
    it('escapes and anchors it, where the raw string would match a longer identity in @sigstore/verify', () => {
      const evil = 'qa@hospital.example.attacker.test';
      // The library's own check: a raw string is an unanchored pattern and accepts the evil SAN.
      assert.doesNotThrow(() => {
        verifySubjectAlternativeName('qa@hospital.example', evil);
      });
      const policy = toSigstorePolicy({ subject: 'qa@hospital.example' });
      assert.ok(policy.subjectAlternativeName instanceof RegExp);
      assert.throws(() => {
        verifySubjectAlternativeName(policy.subjectAlternativeName ?? '', evil);
      });
      assert.doesNotThrow(() => {
        verifySubjectAlternativeName(policy.subjectAlternativeName ?? '', 'qa@hospital.example');
      });
    });
  });
});

describe('exactRegExp and anchoredRegExp', () => {
  it('treats metacharacters literally in exact strings', () => {
    assert.equal(exactRegExp('a.b').test('aXb'), false);
    assert.equal(exactRegExp('a.b').test('a.b'), true);
  });

  it('anchors alternations as a whole', () => {
    assert.equal(anchoredRegExp('a|b').test('xa'), false);
    assert.equal(anchoredRegExp('a|b').test('b'), true);
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
