import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
  SIMPLE_SIGNING_MEDIA_TYPE,
  decodeBase64Strict,
  legacySignatureFromLayer,
  referrersFallbackTag,
  signatureTag,
} from '../../src/signature/cosign-legacy.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CountersignError && e.code === code);
}

const DIGEST = `sha256:${'0f'.repeat(32)}` as const;

describe('decodeBase64Strict', () => {
  describe('when the input is standard base64', () => {
    it('decodes it', () => {
      const bytes = randomBytes(71);
      assert.deepEqual(Buffer.from(decodeBase64Strict(bytes.toString('base64'), 'sig')), bytes);
    });

    it('accepts line breaks (LF, CRLF, lone CR) as Go encoding/base64 does', () => {
      const bytes = randomBytes(256);
      const b64 = bytes.toString('base64');
      const wrapped = b64.replace(/.{76}/g, '$&\n');
      assert.deepEqual(Buffer.from(decodeBase64Strict(wrapped, 'sig')), bytes);
      assert.deepEqual(Buffer.from(decodeBase64Strict(b64.replace(/.{64}/g, '$&\r\n'), 'sig')), bytes);
      assert.deepEqual(Buffer.from(decodeBase64Strict(b64.replace(/.{64}/g, '$&\r'), 'sig')), bytes);
      assert.deepEqual(Buffer.from(decodeBase64Strict(`${b64}\n`, 'sig')), bytes);
    });
  });

  describe('when the input is not strict base64', () => {
    for (const [label, text] of [
      ['empty', ''],
      ['URL-safe alphabet', '-_-_'],
      ['missing padding', 'YWJjZA'],
      ['too much padding', 'YQ==='],
      ['padding inside', 'YQ==YQ=='],
      ['spaces', 'YWJj ZA=='],
      ['tabs', 'YWJj\tZGVm'],
      ['garbage', '!!!not base64!!!'],
    ] as const) {
      it(`refuses ${label} with SIGNATURE_ENCODING_INVALID`, () => {
        assertCode(() => decodeBase64Strict(text, 'sig'), 'SIGNATURE_ENCODING_INVALID');
      });
    }
  });
});

describe('legacySignatureFromLayer', () => {
  const payload = new TextEncoder().encode('{"critical":{}}');
  const sigB64 = randomBytes(70).toString('base64');

  describe('when the layer is a cosign signature', () => {
    it('carries payload, decoded signature and non-empty evidence annotations', () => {
      const c = legacySignatureFromLayer(
        'x.sig#0',
        {
          mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
          annotations: {
            [ANNOTATION_SIGNATURE]: sigB64,
            [ANNOTATION_CERTIFICATE]: '',
            [ANNOTATION_CHAIN]: '  ',
            [ANNOTATION_BUNDLE]: '{"SignedEntryTimestamp":"x"}',
          },
        },
        payload,
      );
      assert.equal(c.format, 'cosign-legacy');
      assert.equal(c.id, 'x.sig#0');
      assert.equal(c.payload, payload);
      assert.deepEqual(Buffer.from(c.signature), Buffer.from(sigB64, 'base64'));
      assert.equal(c.certificatePem, undefined);
      assert.equal(c.chainPem, undefined);
      assert.equal(c.rekorBundle, '{"SignedEntryTimestamp":"x"}');
    });
  });

  describe('when the layer is not a cosign signature', () => {
    it('refuses another media type with NOT_A_SIGNATURE', () => {
      assertCode(
        () =>
          legacySignatureFromLayer(
            'x.sig#0',
            {
              mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
              annotations: { [ANNOTATION_SIGNATURE]: sigB64 },
            },
            payload,
          ),
        'NOT_A_SIGNATURE',
      );
    });

    it('refuses a layer without the signature annotation with NOT_A_SIGNATURE', () => {
      assertCode(
        () =>
          legacySignatureFromLayer(
            'x.sig#0',
            { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations: {} },
            payload,
          ),
        'NOT_A_SIGNATURE',
      );
    });

    it('refuses a signature annotation that is not base64 with SIGNATURE_ENCODING_INVALID', () => {
      assertCode(
        () =>
          legacySignatureFromLayer(
            'x.sig#0',
            { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations: { [ANNOTATION_SIGNATURE]: 'not*base64' } },
            payload,
          ),
        'SIGNATURE_ENCODING_INVALID',
      );
    });
  });
});

describe('signatureTag and referrersFallbackTag', () => {
  it('names cosign and OCI 1.1 fallback tags after the digest', () => {
    assert.equal(signatureTag(DIGEST), `sha256-${'0f'.repeat(32)}.sig`);
    assert.equal(referrersFallbackTag(DIGEST), `sha256-${'0f'.repeat(32)}`);
  });
});
