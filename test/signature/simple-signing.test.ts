import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { missingAnnotations, parseSimpleSigningPayload } from '../../src/signature/simple-signing.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function payload(over: { critical?: unknown; optional?: unknown } = {}): Record<string, unknown> {
  return {
    critical: over.critical ?? {
      identity: { 'docker-reference': 'registry.example/vendor/algo' },
      image: { 'docker-manifest-digest': DIGEST },
      type: 'cosign container image signature',
    },
    ...('optional' in over ? { optional: over.optional } : { optional: null }),
  };
}

function critical(over: Record<string, unknown>): Record<string, unknown> {
  return {
    identity: { 'docker-reference': 'registry.example/vendor/algo' },
    image: { 'docker-manifest-digest': DIGEST },
    type: 'cosign container image signature',
    ...over,
  };
}

function assertCode(bytes: Uint8Array, code: ErrorCode): void {
  assert.throws(
    () => parseSimpleSigningPayload(bytes),
    (e: unknown) => e instanceof CountersignError && e.code === code,
  );
}

describe('parseSimpleSigningPayload', () => {
  describe('when the payload is a valid cosign payload', () => {
    it('returns reference, digest, type and an empty optional for null', () => {
      const p = parseSimpleSigningPayload(enc(payload()));
      assert.equal(p.dockerReference, 'registry.example/vendor/algo');
      assert.equal(p.manifestDigest, DIGEST);
      assert.equal(p.type, 'cosign container image signature');
      assert.deepEqual(p.optional, {});
    });

    it('keeps an optional object as written', () => {
      const p = parseSimpleSigningPayload(enc(payload({ optional: { team: 'radiology', n: 3 } })));
      assert.deepEqual(p.optional, { team: 'radiology', n: 3 });
    });

    it('treats an absent optional as empty', () => {
      const doc = payload();
      delete doc['optional'];
      assert.deepEqual(parseSimpleSigningPayload(enc(doc)).optional, {});
    });

    it('accepts the containers/image "atomic container signature" type', () => {
      const p = parseSimpleSigningPayload(
        enc(payload({ critical: critical({ type: 'atomic container signature' }) })),
      );
      assert.equal(p.type, 'atomic container signature');
    });
  });

  describe('when the payload is not JSON', () => {
    it('refuses text with PAYLOAD_INVALID', () => {
      assertCode(enc('not json'), 'PAYLOAD_INVALID');
    });
    it('refuses invalid UTF-8 with PAYLOAD_INVALID', () => {
      assertCode(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'PAYLOAD_INVALID');
    });
    it('refuses a JSON array or string with PAYLOAD_INVALID', () => {
      assertCode(enc([payload()]), 'PAYLOAD_INVALID');
      assertCode(enc('"x"'), 'PAYLOAD_INVALID');
      assertCode(enc('null'), 'PAYLOAD_INVALID');
    });
  });

  describe('when the type is wrong', () => {
    it('refuses another type with PAYLOAD_TYPE_INVALID', () => {
      assertCode(
        enc(payload({ critical: critical({ type: 'cosign container image attestation' }) })),
        'PAYLOAD_TYPE_INVALID',
      );
    });
    it('refuses a missing or non-string type with PAYLOAD_INVALID', () => {
      assertCode(enc(payload({ critical: critical({ type: 7 }) })), 'PAYLOAD_INVALID');
    });
  });

  describe('when the digest is bad', () => {
    for (const [label, digest] of [
      ['missing', undefined],
      ['upper-case hex', `sha256:${'AB'.repeat(32)}`],
      ['short', 'sha256:abc'],
      ['another algorithm', `sha512:${'ab'.repeat(64)}`],
      ['a number', 42],
    ] as const) {
      it(`refuses a ${label} digest with PAYLOAD_INVALID`, () => {
        assertCode(
          enc(payload({ critical: critical({ image: { 'docker-manifest-digest': digest } }) })),
          'PAYLOAD_INVALID',
        );
      });
    }
  });

  describe('when other fields are malformed', () => {
    it('refuses a missing critical section with PAYLOAD_INVALID', () => {
      assertCode(enc({ optional: null }), 'PAYLOAD_INVALID');
    });
    it('refuses a missing docker-reference with PAYLOAD_INVALID', () => {
      assertCode(enc(payload({ critical: critical({ identity: {} }) })), 'PAYLOAD_INVALID');
    });
    it('refuses an optional that is an array with PAYLOAD_INVALID', () => {
      assertCode(enc(payload({ optional: ['team', 'radiology'] })), 'PAYLOAD_INVALID');
    });
    it('refuses an optional that is a string with PAYLOAD_INVALID', () => {
      assertCode(enc(payload({ optional: 'team=radiology' })), 'PAYLOAD_INVALID');
    });
  });
});

describe('missingAnnotations', () => {
  const p = parseSimpleSigningPayload(enc(payload({ optional: { team: 'radiology', n: 3 } })));

  it('returns nothing when every pair is present with the same string', () => {
    assert.deepEqual(missingAnnotations(p, { team: 'radiology' }), []);
    assert.deepEqual(missingAnnotations(p, {}), []);
  });

  it('names pairs that are absent, different or not strings', () => {
    assert.deepEqual(missingAnnotations(p, { team: 'other', site: 'x', n: '3' }), [
      'team=other',
      'site=x',
      'n=3',
    ]);
  });
});
