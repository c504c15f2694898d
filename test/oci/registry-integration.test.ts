/**
 * The registry client against a real CNCF distribution registry (2.8): plain HTTP with the
 * insecure opt-in, htpasswd basic auth through a docker config file, and TLS with a test CA.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { loadDockerConfig, openImageSource, parseManifest, parseReference } from '../../src/oci/index.ts';
import type { ClosableImageSource, RegistryOptions } from '../../src/oci/index.ts';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, pushImage, pushIndex } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';
import type { TestRegistry } from '../support/registry.ts';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CountersignError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

async function withSource(
  text: string,
  options: RegistryOptions,
  fn: (source: ClosableImageSource) => Promise<void>,
): Promise<void> {
  const source = await openImageSource(parseReference(text), { totalTimeoutMs: 15_000, ...options });
  try {
    await fn(source);
  } finally {
    await source.close();
  }
}

describe('registry client against distribution', () => {
  describe('when the registry is plain HTTP', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry();
    });
    after(async () => {
      await reg.stop();
    });

    it('resolves a tag to the pushed digest with the insecure opt-in', async () => {
      const pushed = await pushImage(reg, 'vendor/algo', '1.4');
      await withSource(`${reg.host}/vendor/algo:1.4`, { insecureRegistries: [reg.host] }, async (source) => {
        const got = await source.getManifest('1.4');
        assert.ok(got);
        assert.equal(got.digest, pushed.digest);
        assert.equal(got.mediaType, OCI_MANIFEST);
        assert.deepEqual(Buffer.from(got.bytes), Buffer.from(pushed.manifestBytes));
        assert.equal((await source.getManifest(pushed.digest))?.digest, pushed.digest);
      });
    });

    it('reads a Docker v2 manifest and its config blob', async () => {
      const pushed = await pushImage(reg, 'vendor/docker', 'v1', { format: 'docker' });
      await withSource(`${reg.host}/vendor/docker:v1`, { insecureRegistries: [reg.host] }, async (source) => {
        const got = await source.getManifest('v1');
        assert.ok(got);
        assert.equal(got.mediaType, DOCKER_MANIFEST);
        const manifest = parseManifest(got.bytes, got.mediaType);
        assert.ok(manifest.kind === 'manifest');
        const config = await source.getBlob(manifest.config.digest, 1 << 20);
        assert.equal(config.length, manifest.config.size);
        assert.equal(got.digest, pushed.digest);
      });
    });

    it('resolves a tag on an index to the index digest, not a platform', async () => {
      const a = await pushImage(reg, 'vendor/multi', 'amd64');
      const b = await pushImage(reg, 'vendor/multi', 'arm64');
      const index = await pushIndex(reg, 'vendor/multi', 'latest', [a.digest, b.digest]);
      await withSource(`${reg.host}/vendor/multi`, { insecureRegistries: [reg.host] }, async (source) => {
        const got = await source.getManifest('latest');
        assert.ok(got);
        assert.equal(got.digest, index.digest);
        assert.equal(got.mediaType, OCI_INDEX);
      });
    });

    it('gives null for an unknown tag and digest', async () => {
      await withSource(`${reg.host}/vendor/algo`, { insecureRegistries: [reg.host] }, async (source) => {
        assert.equal(await source.getManifest('no-such-tag'), null);
        assert.equal(await source.getManifest(`sha256:${'0'.repeat(64)}`), null);
      });
    });

    it('reports the referrers API of distribution 2.8 as unsupported (null)', async () => {
      const pushed = await pushImage(reg, 'vendor/ref', 'v1');
      await withSource(`${reg.host}/vendor/ref`, { insecureRegistries: [reg.host] }, async (source) => {
        assert.equal(await source.getReferrers(pushed.digest), null);
      });
    });

    it('speaks https (and fails TLS) without the opt-in', async () => {
      await withSource(`${reg.host}/vendor/algo:1.4`, {}, async (source) => {
        await rejectsWith(source.getManifest('1.4'), 'REGISTRY_TLS_ERROR');
      });
    });
  });

  describe('when the registry wants basic auth', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ auth: 'basic' });
    });
    after(async () => {
      await reg.stop();
    });

    it('authenticates with the docker config file', async () => {
      const pushed = await pushImage(reg, 'vendor/secret', 'v1');
      assert.ok(reg.dockerConfigFile);
      const dockerConfig = await loadDockerConfig(reg.dockerConfigFile);
      await withSource(
        `${reg.host}/vendor/secret:v1`,
        { insecureRegistries: [reg.host], dockerConfig },
        async (source) => {
          assert.equal((await source.getManifest('v1'))?.digest, pushed.digest);
        },
      );
    });

    it('fails with REGISTRY_AUTH_FAILED without credentials', async () => {
      await withSource(`${reg.host}/vendor/secret:v1`, { insecureRegistries: [reg.host] }, async (source) => {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED');
      });
    });
  });

  describe('when the registry speaks TLS with a private CA', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ tls: true });
    });
    after(async () => {
      await reg.stop();
    });

    it('verifies the registry with the CA bundle', async () => {
      const pushed = await pushImage(reg, 'vendor/tls', 'v1');
      assert.ok(reg.caPem);
      await withSource(
        `${reg.host}/vendor/tls:v1`,
        { caBundles: { [reg.host]: reg.caPem } },
        async (source) => {
          assert.equal((await source.getManifest('v1'))?.digest, pushed.digest);
        },
      );
    });

    it('fails with REGISTRY_TLS_ERROR without the CA', async () => {
      await withSource(`${reg.host}/vendor/tls:v1`, {}, async (source) => {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_TLS_ERROR');
      });
    });
  });
});
