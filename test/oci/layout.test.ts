import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { openImageSource, parseManifest, parseReference } from '../../src/oci/index.ts';
import { openLayoutSource } from '../../src/oci/layout.ts';
import { sha256Digest } from '../../src/oci/digest.ts';
import type { Digest, ImageSource, LayoutReference } from '../../src/oci/types.ts';

/** The shared real-world fixtures, read in place beside the project (never copied into it). */
const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/cosign-images/', import.meta.url));

const VALID_IMAGE = 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00';
const VALID_SIG = 'sha256:c489ec4cad25ea9abe1fa2859c85a0bbacaccf5f6210dbdf6d1662af105f2d24';
const SIG_PAYLOAD = 'sha256:cf482371b51a7633b3f02e29b87fc3f4a18b3f127af61cb114af5f2c04fcdd75';

const layoutRef = (dir: string): LayoutReference => ({ kind: 'layout', path: dir });
const fixture = (name: string) => openLayoutSource(layoutRef(path.join(FIXTURES, name)));

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CountersignError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

/** Writes a layout into dir: blobs by content, index.json from the given entries. */
async function writeLayout(
  dir: string,
  blobs: Uint8Array[],
  entries: Record<string, unknown>[],
  layoutFile: string = '{"imageLayoutVersion":"1.0.0"}',
): Promise<void> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), layoutFile);
  for (const b of blobs) {
    await writeFile(path.join(dir, 'blobs', 'sha256', sha256Digest(b).slice(7)), b);
  }
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries,
    }),
  );
}

function ociManifest(extra: Record<string, unknown> = {}, layer = 'x'): Uint8Array {
  return enc({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(enc('{}')), size: 2 },
    layers: [{ mediaType: 'text/plain', digest: sha256Digest(enc(layer)), size: layer.length }],
    ...extra,
  });
}

const entry = (bytes: Uint8Array, annotations?: Record<string, string>) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: sha256Digest(bytes),
  size: bytes.length,
  ...(annotations ? { annotations } : {}),
});

describe('openLayoutSource', () => {
  describe('when reading the real cosign fixture layouts', () => {
    it('resolves tag latest of valid to the image digest', async () => {
      const source = await fixture('valid');
      const m = await source.getManifest('latest');
      assert.ok(m);
      assert.equal(m.digest, VALID_IMAGE);
      assert.equal(m.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      assert.equal(sha256Digest(m.bytes), VALID_IMAGE);
    });

    it('names the source oci:<dir>', async () => {
      const source = await fixture('valid');
      assert.equal(source.name, `oci:${path.join(FIXTURES, 'valid')}`);
    });

    it('resolves the cosign signature tag to the signature manifest', async () => {
      const source = await fixture('valid');
      const m = await source.getManifest(`sha256-${VALID_IMAGE.slice(7)}.sig`);
      assert.ok(m);
      assert.equal(m.digest, VALID_SIG);
      const parsed = parseManifest(m.bytes, m.mediaType);
      assert.ok(parsed.kind === 'manifest');
      assert.equal(parsed.layers[0]?.digest, SIG_PAYLOAD);
    });

    it('reads a signature payload blob with its hash checked', async () => {
      const source = await fixture('valid');
      const payload = await source.getBlob(SIG_PAYLOAD, 4096);
      assert.equal(sha256Digest(payload), SIG_PAYLOAD);
      assert.match(new TextDecoder().decode(payload), /cosign container image signature/);
    });

    it('reads a manifest by digest', async () => {
      const source = await fixture('valid');
      assert.equal((await source.getManifest(VALID_IMAGE))?.digest, VALID_IMAGE);
    });

    it('finds no latest in no-manifest', async () => {
      const source = await fixture('no-manifest');
      assert.equal(await source.getManifest('latest'), null);
    });

    it('gives null for a digest whose blob is absent', async () => {
      const source = await fixture('no-manifest');
      assert.equal(await source.getManifest(VALID_IMAGE), null);
    });

    it('refuses the schema 1 image of manifest-digest-error', async () => {
      const source = await fixture('manifest-digest-error');
      await rejectsWith(source.getManifest('latest'), 'MANIFEST_SCHEMA1');
    });

    it('gives no referrers for a layout of tag-based signatures', async () => {
      const source = await fixture('valid');
      assert.equal(await source.getReferrers(VALID_IMAGE), null);
    });

    it('never needs the image config or layer blobs (they are absent)', async () => {
      const source = await fixture('valid');
      const m = await source.getManifest('latest');
      assert.ok(m);
      const parsed = parseManifest(m.bytes, m.mediaType);
      assert.ok(parsed.kind === 'manifest');
      await rejectsWith(source.getBlob(parsed.config.digest, 1 << 20), 'LAYOUT_UNREADABLE');
    });

    it('opens through openImageSource from an oci: reference', async () => {
      const ref = parseReference(`oci:${path.join(FIXTURES, 'valid-2')}:latest`);
      const source = await openImageSource(ref);
      try {
        assert.equal((await source.getManifest('latest'))?.digest, VALID_IMAGE);
      } finally {
        await source.close();
      }
    });
  });

  describe('when asked for something malformed', () => {
    let source: ImageSource;
    before(async () => {
      source = await fixture('valid');
    });

    for (const bad of ['sha256:../../../../etc/passwd', `sha256:${'A'.repeat(64)}`, 'sha256:abc']) {
      it(`refuses the digest ${bad} before touching the disk`, async () => {
        await rejectsWith(source.getManifest(bad), 'INVALID_REFERENCE');
        await rejectsWith(source.getBlob(bad as Digest, 10), 'INVALID_REFERENCE');
        await rejectsWith(source.getReferrers(bad as Digest), 'INVALID_REFERENCE');
      });
    }

    it('refuses a tag outside the tag grammar', async () => {
      await rejectsWith(source.getManifest('../index.json'), 'INVALID_REFERENCE');
    });

    it('refuses a blob above the caller limit', async () => {
      await rejectsWith(source.getBlob(SIG_PAYLOAD, 100), 'SIZE_LIMIT_EXCEEDED');
    });
  });

  describe('when the layout is made for the test', () => {
    let root: string;
    let n = 0;
    const fresh = async () => {
      const dir = path.join(root, `l${n++}`);
      await mkdir(dir);
      return dir;
    };
    before(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'countersign-layout-'));
    });
    after(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('refuses a directory without oci-layout', async () => {
      const dir = await fresh();
      await rejectsWith(openLayoutSource(layoutRef(dir)), 'LAYOUT_UNREADABLE');
    });

    it('refuses a directory that does not exist', async () => {
      await rejectsWith(openLayoutSource(layoutRef(path.join(root, 'missing'))), 'LAYOUT_UNREADABLE');
    });

    it('refuses another imageLayoutVersion', async () => {
      const dir = await fresh();
      await writeLayout(dir, [], [], '{"imageLayoutVersion":"2.0.0"}');
      await rejectsWith(openLayoutSource(layoutRef(dir)), 'LAYOUT_UNREADABLE');
    });

    it('refuses an index.json that is not an index', async () => {
      const dir = await fresh();
      await writeLayout(dir, [], []);
      await writeFile(path.join(dir, 'index.json'), ociManifest());
      await rejectsWith(openLayoutSource(layoutRef(dir)), 'LAYOUT_UNREADABLE');
    });

    it('refuses a blob whose content does not hash to its name', async () => {
      const dir = await fresh();
      const m = ociManifest();
      await writeLayout(dir, [m], [entry(m, { 'org.opencontainers.image.ref.name': 'v1' })]);
      await writeFile(
        path.join(dir, 'blobs', 'sha256', sha256Digest(m).slice(7)),
        ociManifest({}, 'tampered'),
      );
      const source = await openLayoutSource(layoutRef(dir));
      await rejectsWith(source.getManifest('v1'), 'DIGEST_MISMATCH');
      await rejectsWith(source.getManifest(sha256Digest(m)), 'DIGEST_MISMATCH');
    });

    it('resolves a full name:tag ref.name by its tag', async () => {
      const dir = await fresh();
      const m = ociManifest();
      await writeLayout(
        dir,
        [m],
        [entry(m, { 'org.opencontainers.image.ref.name': 'localhost:5000/app:v1.2' })],
      );
      const source = await openLayoutSource(layoutRef(dir));
      assert.equal((await source.getManifest('v1.2'))?.digest, sha256Digest(m));
      assert.equal(await source.getManifest('5000'), null);
    });

    it('refuses a tag that names two different manifests', async () => {
      const dir = await fresh();
      const a = ociManifest({}, 'a');
      const b = ociManifest({}, 'b');
      await writeLayout(
        dir,
        [a, b],
        [
          entry(a, { 'org.opencontainers.image.ref.name': 'v1' }),
          entry(b, { 'org.opencontainers.image.ref.name': 'reg/x:v1' }),
        ],
      );
      const source = await openLayoutSource(layoutRef(dir));
      await rejectsWith(source.getManifest('v1'), 'LAYOUT_UNREADABLE');
    });

    it('resolves a tag to an index without descending to a platform', async () => {
      const dir = await fresh();
      const m = ociManifest();
      const idx = enc({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ ...entry(m), platform: { architecture: 'amd64', os: 'linux' } }],
      });
      await writeLayout(
        dir,
        [m, idx],
        [
          {
            ...entry(idx, { 'org.opencontainers.image.ref.name': 'multi' }),
            mediaType: 'application/vnd.oci.image.index.v1+json',
          },
        ],
      );
      const source = await openLayoutSource(layoutRef(dir));
      const got = await source.getManifest('multi');
      assert.equal(got?.digest, sha256Digest(idx));
      assert.equal(got.mediaType, 'application/vnd.oci.image.index.v1+json');
    });

    describe('when it was written by cosign save', () => {
      let source: ImageSource;
      let image: Uint8Array;
      let sigs: Uint8Array;
      let atts: Uint8Array;
      before(async () => {
        const dir = await fresh();
        image = ociManifest({}, 'image');
        sigs = ociManifest({}, 'sigs');
        atts = ociManifest({}, 'atts');
        await writeLayout(
          dir,
          [image, sigs, atts],
          [
            entry(image, { kind: 'dev.cosignproject.cosign/image' }),
            entry(sigs, { kind: 'dev.cosignproject.cosign/sigs' }),
            entry(atts, { kind: 'dev.cosignproject.cosign/atts' }),
          ],
        );
        source = await openLayoutSource(layoutRef(dir));
      });

      it('resolves latest to the image', async () => {
        assert.equal((await source.getManifest('latest'))?.digest, sha256Digest(image));
      });

      it('resolves sha256-<hex>.sig of that image to the signatures', async () => {
        assert.equal(
          (await source.getManifest(`sha256-${sha256Digest(image).slice(7)}.sig`))?.digest,
          sha256Digest(sigs),
        );
      });

      it('resolves sha256-<hex>.att of that image to the attestations', async () => {
        assert.equal(
          (await source.getManifest(`sha256-${sha256Digest(image).slice(7)}.att`))?.digest,
          sha256Digest(atts),
        );
      });

      it('finds no signatures for another image', async () => {
        assert.equal(await source.getManifest(`sha256-${'0'.repeat(64)}.sig`), null);
      });
    });

    describe('when manifests with a subject are present', () => {
      let source: ImageSource;
      let image: Uint8Array;
      let referrer: Uint8Array;
      before(async () => {
        const dir = await fresh();
        image = ociManifest({}, 'image');
        referrer = ociManifest(
          {
            artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
            subject: entry(image),
            annotations: { 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
          },
          'bundle',
        );
        const unrelated = ociManifest(
          { subject: { ...entry(image), digest: `sha256:${'9'.repeat(64)}` } },
          'other',
        );
        await writeLayout(
          dir,
          [image, referrer, unrelated],
          [
            entry(image, { 'org.opencontainers.image.ref.name': 'latest' }),
            entry(referrer),
            entry(unrelated),
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: `sha256:${'8'.repeat(64)}`,
              size: 3,
            },
          ],
        );
        source = await openLayoutSource(layoutRef(dir));
      });

      it('builds a referrers index of the manifests naming the digest', async () => {
        const got = await source.getReferrers(sha256Digest(image));
        assert.ok(got);
        assert.equal(got.mediaType, 'application/vnd.oci.image.index.v1+json');
        assert.equal(got.digest, sha256Digest(got.bytes));
        const index = parseManifest(got.bytes, got.mediaType);
        assert.ok(index.kind === 'index');
        assert.deepEqual(index.manifests, [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: sha256Digest(referrer),
            size: referrer.length,
            artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
            annotations: { 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
          },
        ]);
      });

      it('gives null for a digest nothing refers to', async () => {
        assert.equal(await source.getReferrers(sha256Digest(referrer)), null);
      });
    });
  });
});
