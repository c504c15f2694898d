import { before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { checkSignature, verifyRawSignature } from '../../src/verify/check-signature.ts';
import type { CheckOptions } from '../../src/verify/check-signature.ts';
import type { SignatureCheck, VerificationSubject } from '../../src/verify/types.ts';
import { IMAGE_DIGEST, OTHER_DIGEST, keySigner, legacyCandidate, makeKey, payloadBytes } from './fixtures.ts';
import type { KeyKind, SignHow, TestKey } from './fixtures.ts';

const SUBJECT: VerificationSubject = { digest: IMAGE_DIGEST, repository: 'registry.example/vendor/algo' };
const OPTIONS: CheckOptions = { now: new Date() };

function assertOk(r: SignatureCheck, key: TestKey): void {
  if (!r.ok) assert.fail(`expected success, got ${r.code}: ${r.detail}`);
  assert.deepEqual(r.identity, { kind: 'key', fingerprint: key.material.fingerprint });
}

function assertFails(r: SignatureCheck, code: string): void {
  if (r.ok) assert.fail(`expected ${code}, got success: ${r.detail}`);
  assert.equal(r.code, code, r.detail);
}

const keys = {} as Record<KeyKind, TestKey>;
let stranger: TestKey;

before(() => {
  for (const kind of ['p256', 'p384', 'p521', 'rsa', 'ed25519'] as const) keys[kind] = makeKey(kind);
  stranger = makeKey('p256');
});

describe('checkSignature', () => {
  describe('when a legacy signature is made by the signer key', () => {
    const cases: [KeyKind, SignHow][] = [
      ['p256', 'sha256'],
      ['p384', 'sha384'],
      ['p384', 'sha256'],
      ['p521', 'sha512'],
      ['p521', 'sha256'],
      ['rsa', 'sha256'],
      ['ed25519', 'ed25519'],
      ['ed25519', 'ed25519ph'],
    ];
    for (const [kind, how] of cases) {
      it(`verifies ${kind} signed with ${how} and reports the key identity`, () => {
        const key = keys[kind];
        const r = checkSignature(legacyCandidate(key, payloadBytes(), how), keySigner(key), SUBJECT, OPTIONS);
        assertOk(r, key);
        assert.match(r.ok ? r.detail : '', new RegExp(`\\(${how}\\)`));
      });
    }
  });

  describe('when the signature is not by the signer key', () => {
    for (const kind of ['p256', 'p384', 'p521', 'rsa', 'ed25519'] as const) {
      it(`refuses a ${kind} signature checked with another key with SIGNATURE_INVALID`, () => {
        const how: SignHow = kind === 'ed25519' ? 'ed25519' : 'sha256';
        const c = legacyCandidate(keys[kind], payloadBytes(), how);
        assertFails(checkSignature(c, keySigner(stranger), SUBJECT, OPTIONS), 'SIGNATURE_INVALID');
        const otherSameKind = makeKey(kind);
        assertFails(checkSignature(c, keySigner(otherSameKind), SUBJECT, OPTIONS), 'SIGNATURE_INVALID');
      });
    }

    it('refuses a P-384 key signature made with an unlisted hash (SHA-512) with SIGNATURE_INVALID', () => {
      const c = legacyCandidate(keys.p384, payloadBytes(), 'sha512');
      assertFails(checkSignature(c, keySigner(keys.p384), SUBJECT, OPTIONS), 'SIGNATURE_INVALID');
    });
  });

  describe('when the signature bytes or the payload were changed', () => {
    it('refuses a signature over other payload bytes with SIGNATURE_INVALID', () => {
      const signed = legacyCandidate(keys.p256, payloadBytes(), 'sha256');
      const tampered = { ...signed, payload: payloadBytes(IMAGE_DIGEST, { tampered: 'yes' }) };
      assertFails(checkSignature(tampered, keySigner(keys.p256), SUBJECT, OPTIONS), 'SIGNATURE_INVALID');
    });

    it('refuses truncated and garbage signatures with SIGNATURE_INVALID, never throwing', () => {
      for (const kind of ['p256', 'rsa', 'ed25519'] as const) {
        const how: SignHow = kind === 'ed25519' ? 'ed25519' : 'sha256';
        const c = legacyCandidate(keys[kind], payloadBytes(), how);
        for (const signature of [c.signature.slice(0, 10), new Uint8Array(64), new Uint8Array(0)]) {
          assertFails(
            checkSignature({ ...c, signature }, keySigner(keys[kind]), SUBJECT, OPTIONS),
            'SIGNATURE_INVALID',
          );
        }
      }
    });
  });

  describe('when the payload names another digest', () => {
    it('refuses a valid signature over another image with PAYLOAD_DIGEST_MISMATCH', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(OTHER_DIGEST), 'sha256');
      assertFails(checkSignature(c, keySigner(keys.p256), SUBJECT, OPTIONS), 'PAYLOAD_DIGEST_MISMATCH');
    });
  });

  describe('when the payload is malformed', () => {
    it('refuses a signed non-JSON payload with PAYLOAD_INVALID', () => {
      const c = legacyCandidate(keys.p256, new TextEncoder().encode('hello'), 'sha256');
      assertFails(checkSignature(c, keySigner(keys.p256), SUBJECT, OPTIONS), 'PAYLOAD_INVALID');
    });

    it('refuses a signed payload of another type with PAYLOAD_TYPE_INVALID', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(IMAGE_DIGEST, null, 'something else'), 'sha256');
      assertFails(checkSignature(c, keySigner(keys.p256), SUBJECT, OPTIONS), 'PAYLOAD_TYPE_INVALID');
    });
  });

  describe('when annotations are required (-a)', () => {
    it('accepts a payload carrying them', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(IMAGE_DIGEST, { team: 'radiology' }), 'sha256');
      assertOk(checkSignature(c, keySigner(keys.p256, { team: 'radiology' }), SUBJECT, OPTIONS), keys.p256);
    });

    it('refuses a payload without them with ANNOTATION_MISMATCH', () => {
      const none = legacyCandidate(keys.p256, payloadBytes(), 'sha256');
      assertFails(
        checkSignature(none, keySigner(keys.p256, { team: 'radiology' }), SUBJECT, OPTIONS),
        'ANNOTATION_MISMATCH',
      );
      const other = legacyCandidate(keys.p256, payloadBytes(IMAGE_DIGEST, { team: 'other' }), 'sha256');
      assertFails(
        checkSignature(other, keySigner(keys.p256, { team: 'radiology' }), SUBJECT, OPTIONS),
        'ANNOTATION_MISMATCH',
      );
    });

    it('still reports SIGNATURE_INVALID first when the key does not match', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(), 'sha256');
      assertFails(
        checkSignature(c, keySigner(stranger, { team: 'radiology' }), SUBJECT, OPTIONS),
        'SIGNATURE_INVALID',
      );
    });
  });

  describe('when the transparency log is required', () => {
    it('refuses a signature without a Rekor bundle with TLOG_MISSING', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(), 'sha256');
      assertFails(
        checkSignature(c, { ...keySigner(keys.p256), requireTlog: true }, SUBJECT, OPTIONS),
        'TLOG_MISSING',
      );
    });

    it('refuses a Rekor bundle with no trusted root to check it with TLOG_MISSING', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(), 'sha256', { rekorBundle: '{}' });
      assertFails(
        checkSignature(c, { ...keySigner(keys.p256), requireTlog: true }, SUBJECT, OPTIONS),
        'TLOG_MISSING',
      );
    });
  });

  describe('when the docker-reference must match', () => {
    it('accepts the payload repository and refuses another with PAYLOAD_REFERENCE_MISMATCH', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(), 'sha256');
      const strict = { ...OPTIONS, matchDockerReference: true };
      assertOk(checkSignature(c, keySigner(keys.p256), SUBJECT, strict), keys.p256);
      assertFails(
        checkSignature(c, keySigner(keys.p256), { ...SUBJECT, repository: 'mirror.hospital/algo' }, strict),
        'PAYLOAD_REFERENCE_MISMATCH',
      );
      // Off by default: mirrored images keep the vendor's reference.
      assertOk(
        checkSignature(c, keySigner(keys.p256), { ...SUBJECT, repository: 'mirror.hospital/algo' }, OPTIONS),
        keys.p256,
      );
    });
  });

  describe('when a key signer meets a certificate signature', () => {
    it('checks the signature against the key only (the certificate is not trusted)', () => {
      const c = legacyCandidate(keys.p256, payloadBytes(), 'sha256', { certificatePem: 'not used' });
      assertOk(checkSignature(c, keySigner(keys.p256), SUBJECT, OPTIONS), keys.p256);
      assertFails(checkSignature(c, keySigner(stranger), SUBJECT, OPTIONS), 'SIGNATURE_INVALID');
    });
  });

  describe('when the candidate is a malformed bundle', () => {
    it('refuses it with BUNDLE_INVALID', () => {
      assertFails(
        checkSignature(
          { format: 'bundle', id: 'b', bundleJson: '{}' },
          keySigner(keys.p256),
          SUBJECT,
          OPTIONS,
        ),
        'BUNDLE_INVALID',
      );
    });
  });
});

describe('verifyRawSignature', () => {
  it('names the hash that made the signature verify', () => {
    const data = payloadBytes();
    const p384 = legacyCandidate(keys.p384, data, 'sha384');
    assert.equal(verifyRawSignature(keys.p384.material, data, p384.signature), 'sha384');
    const legacy = legacyCandidate(keys.p384, data, 'sha256');
    assert.equal(verifyRawSignature(keys.p384.material, data, legacy.signature), 'sha256');
    const ph = legacyCandidate(keys.ed25519, data, 'ed25519ph');
    assert.equal(verifyRawSignature(keys.ed25519.material, data, ph.signature), 'ed25519ph');
    assert.equal(verifyRawSignature(stranger.material, data, p384.signature), undefined);
  });
});

describe('checkSignature on a payload replaced after signing', () => {
  const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}` as const;

  describe('when the signature image recorded the original layer digest', () => {
    it('says SIGNATURE_LAYER_MODIFIED instead of SIGNATURE_INVALID', () => {
      const signed = legacyCandidate(keys.p256, payloadBytes(IMAGE_DIGEST), 'sha256');
      const tampered = {
        ...signed,
        payload: payloadBytes(IMAGE_DIGEST, { tampered: 'yes' }),
        recordedDigest: digestOf(signed.payload),
      };
      assertFails(
        checkSignature(tampered, keySigner(keys.p256), SUBJECT, OPTIONS),
        'SIGNATURE_LAYER_MODIFIED',
      );
    });
  });

  describe('when the layer is the one recorded but the key is another', () => {
    it('stays SIGNATURE_INVALID', () => {
      const signed = legacyCandidate(keys.p256, payloadBytes(IMAGE_DIGEST), 'sha256');
      const c = { ...signed, recordedDigest: digestOf(signed.payload) };
      assertFails(checkSignature(c, keySigner(stranger), SUBJECT, OPTIONS), 'SIGNATURE_INVALID');
    });
  });
});
