import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { parseManifest, sha256Digest } from '../../src/oci/manifest.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

const enc = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

function assertCode(fn: () => unknown, code: ErrorCode, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CountersignError, `not a CountersignError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

const ociManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: D1, size: 2 },
  layers: [
    {
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      digest: D2,
      size: 261,
      annotations: { 'dev.cosignproject.cosign/signature': 'MEU=' },
    },
  ],
  subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D3, size: 500 },
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
};

describe('parseManifest', () => {
  describe('when given an OCI image manifest', () => {
    it('reads config, layers, subject, artifactType and annotations', () => {
      const m = parseManifest(enc(ociManifest));
      assert.deepEqual(m, {
        kind: 'manifest',
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: D1, size: 2 },
        layers: [
          {
            mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
            digest: D2,
            size: 261,
            annotations: { 'dev.cosignproject.cosign/signature': 'MEU=' },
          },
        ],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D3, size: 500 },
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      });
    });

    it('infers the OCI type when mediaType is absent', () => {
      const { mediaType: _, ...untyped } = ociManifest;
      const m = parseManifest(enc(untyped));
      assert.equal(m.kind, 'manifest');
      assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    });

    it('uses the content type when the body has no mediaType', () => {
      const { mediaType: _, ...untyped } = ociManifest;
      const m = parseManifest(
        enc(untyped),
        'application/vnd.docker.distribution.manifest.v2+json; charset=utf-8',
      );
      assert.equal(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    });

    it('lets the body mediaType win over the content type', () => {
      const m = parseManifest(enc(ociManifest), 'application/json');
      assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    });

    it('keeps an annotation named __proto__ as data', () => {
      const text = JSON.stringify(ociManifest).replace(
        '"annotations":{"org',
        '"annotations":{"__proto__":"x","org',
      );
      const m = parseManifest(enc(text));
      assert.equal(Object.getPrototypeOf(m.annotations), Object.prototype);
      assert.equal(Object.getOwnPropertyDescriptor(m.annotations, '__proto__')?.value, 'x');
    });
  });

  describe('when given a Docker v2 schema 2 manifest', () => {
    it('reads it as an image manifest', () => {
      const m = parseManifest(
        enc({
          schemaVersion: 2,
          mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
          config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 1512, digest: D1 },
          layers: [
            { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 2896510, digest: D2 },
          ],
        }),
      );
      assert.equal(m.kind, 'manifest');
      assert.equal(m.layers.length, 1);
      assert.equal(m.config.digest, D1);
    });
  });

  describe('when given an index', () => {
    it('reads an OCI index with platforms', () => {
      const m = parseManifest(
        enc({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: D1,
              size: 10,
              platform: { architecture: 'arm64', os: 'linux', variant: 'v8', 'os.features': ['x'] },
            },
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: D2,
              size: 11,
              artifactType: 'a/b',
            },
          ],
        }),
      );
      assert.deepEqual(m, {
        kind: 'index',
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: D1,
            size: 10,
            platform: { architecture: 'arm64', os: 'linux', variant: 'v8', osFeatures: ['x'] },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: D2,
            size: 11,
            artifactType: 'a/b',
          },
        ],
      });
    });

    it('reads a Docker manifest list', () => {
      const m = parseManifest(
        enc({
          schemaVersion: 2,
          mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
          manifests: [
            {
              mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
              digest: D1,
              size: 10,
              platform: { architecture: 'amd64', os: 'linux' },
            },
          ],
        }),
      );
      assert.equal(m.kind, 'index');
    });

    it('infers an index from manifests when untyped', () => {
      assert.equal(parseManifest(enc({ schemaVersion: 2, manifests: [] })).kind, 'index');
    });
  });

  describe('when given schema 1', () => {
    it('refuses schemaVersion 1', () => {
      assertCode(
        () => parseManifest(enc({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] })),
        'MANIFEST_SCHEMA1',
      );
    });

    it('refuses the signed schema 1 content type even before parsing', () => {
      assertCode(
        () => parseManifest(enc('not json'), 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
        'MANIFEST_SCHEMA1',
      );
    });

    it('refuses a schema 1 mediaType in the body', () => {
      assertCode(
        () =>
          parseManifest(
            enc({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v1+json' }),
          ),
        'MANIFEST_SCHEMA1',
      );
    });
  });

  describe('when the document is not a valid manifest', () => {
    const cases: [string, unknown, RegExp][] = [
      ['garbage', 'hello', /JSON/],
      ['truncated JSON', '{"schemaVersion":2,', /JSON/],
      ['an array', [], /object/],
      ['null', null, /object/],
      ['no schemaVersion', { mediaType: 'application/vnd.oci.image.manifest.v1+json' }, /schemaVersion/],
      ['schemaVersion as string', { ...ociManifest, schemaVersion: '2' }, /schemaVersion/],
      ['no config', { ...ociManifest, config: undefined }, /config/],
      ['layers not an array', { ...ociManifest, layers: {} }, /layers/],
      [
        'upper-case digest',
        { ...ociManifest, config: { ...ociManifest.config, digest: `sha256:${'A'.repeat(64)}` } },
        /config\.digest/,
      ],
      [
        'sha512 digest',
        { ...ociManifest, config: { ...ociManifest.config, digest: `sha512:${'1'.repeat(128)}` } },
        /digest/,
      ],
      [
        'path traversal digest',
        { ...ociManifest, layers: [{ mediaType: 'x/y', size: 1, digest: 'sha256:../../etc/passwd' }] },
        /layers\[0\]\.digest/,
      ],
      ['negative size', { ...ociManifest, config: { ...ociManifest.config, size: -1 } }, /size/],
      ['fractional size', { ...ociManifest, config: { ...ociManifest.config, size: 1.5 } }, /size/],
      ['missing descriptor mediaType', { ...ociManifest, config: { digest: D1, size: 1 } }, /mediaType/],
      ['non-string annotation', { ...ociManifest, annotations: { a: 1 } }, /annotations/],
      ['bad subject', { ...ociManifest, subject: { mediaType: 'x/y', digest: 'nope', size: 1 } }, /subject/],
      ['manifest with manifests', { ...ociManifest, manifests: [] }, /manifests/],
      [
        'index with layers',
        { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [], layers: [] },
        /layers/,
      ],
      [
        'platform without os',
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [{ mediaType: 'x/y', digest: D1, size: 1, platform: { architecture: 'amd64' } }],
        },
        /platform/,
      ],
    ];
    for (const [what, doc, why] of cases) {
      it(`refuses ${what} as MANIFEST_INVALID`, () => {
        assertCode(() => parseManifest(enc(doc)), 'MANIFEST_INVALID', why);
      });
    }

    it('refuses invalid UTF-8', () => {
      const bytes = new Uint8Array([...enc('{"schemaVersion":2,"x":"'), 0xff, ...enc('"}')]);
      assertCode(() => parseManifest(bytes), 'MANIFEST_INVALID', /UTF-8/);
    });

    it('refuses an unknown media type as MANIFEST_UNSUPPORTED', () => {
      assertCode(
        () =>
          parseManifest(
            enc({ schemaVersion: 2, mediaType: 'application/vnd.oci.artifact.manifest.v1+json' }),
          ),
        'MANIFEST_UNSUPPORTED',
      );
    });
  });
});

describe('sha256Digest', () => {
  it('hashes the exact bytes', () => {
    const bytes = enc('{"a": 1}\n');
    assert.equal(sha256Digest(bytes), `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('gives the known digest of the empty string', () => {
    assert.equal(
      sha256Digest(new Uint8Array()),
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});
