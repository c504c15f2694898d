/**
 * Self-tests of the integration harness: a real registry (plain, basic auth, TLS with a test CA),
 * image pushes over the Distribution API, and signatures made by real cosign and skopeo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { startRegistry } from './registry.ts';
import type { TestRegistry } from './registry.ts';
import {
  OCI_INDEX,
  OCI_MANIFEST,
  buildRandomImage,
  cosignSignatureTag,
  getBlob,
  getManifest,
  listTags,
  pushImage,
  pushIndex,
  referrersFallbackTag,
  registryFetch,
  writeOciLayout,
} from './images.ts';
import {
  cosignAttestBundle,
  cosignGenerateKeyPair,
  cosignSign,
  imageRef,
  skopeoCopy,
  skopeoCopySigned,
  skopeoGenerateKey,
} from './signing.ts';
import type { KeyPair, SkopeoKey } from './signing.ts';
import { requireTool } from './tools.ts';

const PASSWORD = 'harness-pass';

interface SimpleSigningPayload {
  critical: { image: { 'docker-manifest-digest': string }; type: string };
}

interface SignatureManifest {
  layers: { digest: string; annotations?: Record<string, string> }[];
}

function json(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** Reads the `.sig` manifest of a digest and returns the payloads' signed digests. */
async function signedDigests(reg: TestRegistry, repo: string, digest: string): Promise<string[]> {
  const sig = await getManifest(reg, repo, cosignSignatureTag(digest));
  assert.ok(sig, `no ${cosignSignatureTag(digest)} tag`);
  const manifest = json(sig.manifestBytes) as SignatureManifest;
  const out = [];
  for (const layer of manifest.layers) {
    assert.ok(layer.annotations?.['dev.cosignproject.cosign/signature'], 'signature annotation missing');
    const payload = json(await getBlob(reg, repo, layer.digest)) as SimpleSigningPayload;
    assert.equal(payload.critical.type, 'cosign container image signature');
    out.push(payload.critical.image['docker-manifest-digest']);
  }
  return out;
}

let workDir = '';
let cosignKey: KeyPair;
let skopeoKey: SkopeoKey;

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'countersign-harness-'));
  [cosignKey, skopeoKey] = await Promise.all([
    cosignGenerateKeyPair(path.join(workDir, 'keys'), PASSWORD),
    skopeoGenerateKey(path.join(workDir, 'keys'), PASSWORD),
  ]);
});

after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('requireTool', () => {
  describe('when the tool is installed', () => {
    it('returns the project wrapper for cosign', () => {
      assert.match(requireTool('cosign'), /\.tools\/bin\/cosign$/);
    });
  });

  describe('when the tool is nowhere', () => {
    it('throws naming the install script', () => {
      const saved = process.env['PATH'];
      process.env['PATH'] = '';
      try {
        assert.throws(() => requireTool('htpasswd'), /bash scripts\/install-test-tools\.sh/);
      } finally {
        process.env['PATH'] = saved;
      }
    });
  });
});

describe('startRegistry', () => {
  describe('when plain HTTP', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry();
    });
    after(async () => {
      await reg.stop();
    });

    it('answers /v2/ on a loopback URL', async () => {
      assert.match(reg.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await registryFetch(reg, '/v2/');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    });

    it('serves a pushed image by digest with identical bytes', async () => {
      const pushed = await pushImage(reg, 'harness/plain', 'v1');
      const byDigest = await getManifest(reg, 'harness/plain', pushed.digest);
      assert.ok(byDigest);
      assert.equal(byDigest.digest, pushed.digest);
      assert.deepEqual(Buffer.from(byDigest.manifestBytes), Buffer.from(pushed.manifestBytes));
      assert.equal(byDigest.mediaType, OCI_MANIFEST);
      const byTag = await getManifest(reg, 'harness/plain', 'v1');
      assert.equal(byTag?.digest, pushed.digest);
    });

    it('gives different digests to two pushes', async () => {
      const a = await pushImage(reg, 'harness/plain', 'a');
      const b = await pushImage(reg, 'harness/plain', 'b', { format: 'docker' });
      assert.notEqual(a.digest, b.digest);
    });

    it('pushes an index over pushed images', async () => {
      const a = await pushImage(reg, 'harness/multi', 'amd64');
      const b = await pushImage(reg, 'harness/multi', 'arm64', { architecture: 'arm64' });
      const index = await pushIndex(reg, 'harness/multi', 'latest', [a.digest, b.digest]);
      const got = await getManifest(reg, 'harness/multi', 'latest');
      assert.equal(got?.digest, index.digest);
      assert.equal(got.mediaType, OCI_INDEX);
      const children = (json(got.manifestBytes) as { manifests: { digest: string }[] }).manifests.map(
        (m) => m.digest,
      );
      assert.deepEqual(children, [a.digest, b.digest]);
    });

    it('returns null for a manifest that does not exist', async () => {
      assert.equal(await getManifest(reg, 'harness/plain', 'missing'), null);
    });

    it('gets a .sig tag from cosign sign whose payload names the digest', async () => {
      const image = await pushImage(reg, 'harness/cosign', 'v1');
      await cosignSign(
        reg,
        imageRef(reg, 'harness/cosign', image.digest),
        cosignKey.privateKeyPath,
        PASSWORD,
      );
      assert.deepEqual(await signedDigests(reg, 'harness/cosign', image.digest), [image.digest]);
    });

    it('gets a .sig tag from skopeo copy with sigstore signing', async () => {
      const layoutDir = path.join(workDir, 'layout');
      const image = buildRandomImage();
      await writeOciLayout(layoutDir, [{ tag: 'v2', image }]);
      await skopeoCopySigned(
        reg,
        `oci:${layoutDir}:v2`,
        `${reg.host}/harness/skopeo:v2`,
        skopeoKey.privateKeyPath,
        skopeoKey.passphraseFile,
      );
      assert.equal((await getManifest(reg, 'harness/skopeo', 'v2'))?.digest, image.manifest.digest);
      assert.deepEqual(await signedDigests(reg, 'harness/skopeo', image.manifest.digest), [
        image.manifest.digest,
      ]);
    });

    it('gets a bundle referrer in the fallback tag from cosign attest --new-bundle-format', async () => {
      const image = await pushImage(reg, 'harness/bundle', 'v1');
      await cosignAttestBundle(
        reg,
        imageRef(reg, 'harness/bundle', image.digest),
        cosignKey.privateKeyPath,
        PASSWORD,
      );
      const fallback = await getManifest(reg, 'harness/bundle', referrersFallbackTag(image.digest));
      assert.ok(fallback, 'no referrers fallback tag');
      const entries = (json(fallback.manifestBytes) as { manifests: { digest: string }[] }).manifests;
      assert.equal(entries.length, 1);
      const referrer = await getManifest(reg, 'harness/bundle', entries[0]!.digest);
      const parsed = json(referrer!.manifestBytes) as {
        subject?: { digest: string };
        layers: { mediaType: string }[];
      };
      assert.equal(parsed.subject?.digest, image.digest);
      assert.match(parsed.layers[0]!.mediaType, /^application\/vnd\.dev\.sigstore\.bundle\.v0\.3\+json/);
    });
  });

  describe('when basic auth', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ auth: 'basic' });
    });
    after(async () => {
      await reg.stop();
    });

    it('refuses /v2/ without credentials', async () => {
      const res = await fetch(`${reg.url}/v2/`);
      await res.body?.cancel();
      assert.equal(res.status, 401);
    });

    it('answers /v2/ with the credentials', async () => {
      assert.ok(
        reg.username !== undefined && reg.password !== undefined && reg.dockerConfigFile !== undefined,
      );
      assert.equal((await registryFetch(reg, '/v2/')).status, 200);
    });

    it('lets cosign and skopeo sign through the docker config', async () => {
      const image = await pushImage(reg, 'harness/auth', 'v1');
      await cosignSign(reg, imageRef(reg, 'harness/auth', image.digest), cosignKey.privateKeyPath, PASSWORD);
      await skopeoCopy(
        reg,
        `docker://${imageRef(reg, 'harness/auth', image.digest)}`,
        `${reg.host}/harness/auth:copy`,
        {
          privateKeyPath: skopeoKey.privateKeyPath,
          passphraseFile: skopeoKey.passphraseFile,
        },
      );
      assert.deepEqual(await signedDigests(reg, 'harness/auth', image.digest), [image.digest, image.digest]);
      assert.ok((await listTags(reg, 'harness/auth')).includes(cosignSignatureTag(image.digest)));
    });
  });

  describe('when TLS', () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ tls: true });
    });
    after(async () => {
      await reg.stop();
    });

    it('answers /v2/ to a client trusting the test CA', async () => {
      assert.match(reg.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(reg.caPem ?? '', /BEGIN CERTIFICATE/);
      const res = await fetch(`${reg.url}/v2/`, { dispatcher: new Agent({ connect: { ca: reg.caPem } }) });
      await res.body?.cancel();
      assert.equal(res.status, 200);
    });

    it('is refused by a client without the test CA', async () => {
      const agent = new Agent();
      await assert.rejects(fetch(`${reg.url}/v2/`, { dispatcher: agent }), (error: unknown) => {
        const cause = (error as { cause?: { code?: string } }).cause;
        assert.equal(cause?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
        return true;
      });
      await agent.close();
    });

    it('lets cosign and skopeo sign with verified TLS', async () => {
      const image = await pushImage(reg, 'harness/tls', 'v1');
      await cosignSign(reg, imageRef(reg, 'harness/tls', image.digest), cosignKey.privateKeyPath, PASSWORD);
      await skopeoCopySigned(
        reg,
        `docker://${imageRef(reg, 'harness/tls', image.digest)}`,
        `${reg.host}/harness/tls:copy`,
        skopeoKey.privateKeyPath,
        skopeoKey.passphraseFile,
      );
      assert.deepEqual(await signedDigests(reg, 'harness/tls', image.digest), [image.digest, image.digest]);
    });
  });
});
