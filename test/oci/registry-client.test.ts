import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { sha256Digest } from '../../src/oci/digest.ts';
import { parseDockerConfig } from '../../src/oci/docker-config.ts';
import { createRegistryClient, createRegistrySource } from '../../src/oci/registry-client.ts';
import type { RegistryOptions, RegistryRequestEvent } from '../../src/oci/registry-client.ts';
import type { Digest, RegistryReference } from '../../src/oci/types.ts';
import { closedPort, makeTestTls, startFakeServer } from './fake-server.ts';
import type { FakeServer, Handler, TestTls } from './fake-server.ts';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const blob = enc('{"critical":{"type":"cosign container image signature"}}');
const BLOB_DIGEST = sha256Digest(blob);
const manifest = enc({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(enc('{}')), size: 2 },
  layers: [
    { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: BLOB_DIGEST, size: blob.length },
  ],
});
const MANIFEST_DIGEST = sha256Digest(manifest);
const OTHER_DIGEST: Digest = `sha256:${'0'.repeat(64)}`;

const refTo = (server: FakeServer, repository = 'team/app'): RegistryReference => ({
  kind: 'registry',
  registry: server.host,
  repository,
});
const insecure = (server: FakeServer, extra: RegistryOptions = {}): RegistryOptions => ({
  insecureRegistries: [server.host],
  ...extra,
});
const dockerConfig = (host: string, user: string, pass: string) =>
  parseDockerConfig(
    JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') } } }),
  );

function send(
  res: ServerResponse,
  status: number,
  body: Uint8Array | string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
    ...headers,
  });
  res.end(body);
}

/** A registry serving one manifest (by tag v1 and by digest) and one blob. */
function registryRoutes(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '';
  if (url === '/v2/team/app/manifests/v1' || url === `/v2/team/app/manifests/${MANIFEST_DIGEST}`) {
    // A lying digest header: the client must not care.
    send(res, 200, manifest, { 'content-type': OCI_MANIFEST, 'docker-content-digest': OTHER_DIGEST });
    return;
  }
  if (url === `/v2/team/app/blobs/${BLOB_DIGEST}`) {
    send(res, 200, blob, { 'content-type': 'application/octet-stream' });
    return;
  }
  send(res, 404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', {
    'content-type': 'application/json',
  });
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CountersignError, String(e));
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

/** Runs fn against a fresh fake server and a source for it; closes both. */
async function withServer(
  handler: Handler,
  fn: (server: FakeServer, options: RegistryOptions) => Promise<void>,
  options: (server: FakeServer) => RegistryOptions = (s) => insecure(s),
): Promise<void> {
  const server = await startFakeServer(handler);
  try {
    await fn(server, options(server));
  } finally {
    await server.close();
  }
}

async function withSource(
  handler: Handler,
  fn: (source: ReturnType<typeof createRegistrySource>, server: FakeServer) => Promise<void>,
  options: (server: FakeServer) => RegistryOptions = (s) => insecure(s),
): Promise<void> {
  await withServer(
    handler,
    async (server, opts) => {
      const source = createRegistrySource(refTo(server), opts);
      try {
        await fn(source, server);
      } finally {
        await source.close();
      }
    },
    options,
  );
}

describe('createRegistrySource', () => {
  describe('when the registry answers anonymously', () => {
    it('resolves a tag and recomputes the digest, ignoring Docker-Content-Digest', async () => {
      await withSource(registryRoutes, async (source) => {
        const got = await source.getManifest('v1');
        assert.ok(got);
        assert.equal(got.digest, MANIFEST_DIGEST);
        assert.equal(got.mediaType, OCI_MANIFEST);
        assert.deepEqual(Buffer.from(got.bytes), Buffer.from(manifest));
      });
    });

    it('asks for OCI and Docker v2 manifests and indexes, never schema 1', async () => {
      await withSource(registryRoutes, async (source, server) => {
        await source.getManifest('v1');
        const accept = String(server.requests[0]?.headers.accept);
        for (const type of [
          OCI_MANIFEST,
          OCI_INDEX,
          'application/vnd.docker.distribution.manifest.v2+json',
          'application/vnd.docker.distribution.manifest.list.v2+json',
        ]) {
          assert.ok(accept.includes(type), `${type} missing from ${accept}`);
        }
        assert.ok(!accept.includes('distribution.manifest.v1'));
      });
    });

    it('fetches by digest', async () => {
      await withSource(registryRoutes, async (source) => {
        assert.equal((await source.getManifest(MANIFEST_DIGEST))?.digest, MANIFEST_DIGEST);
      });
    });

    it('gives null for a manifest that is not there (404)', async () => {
      await withSource(registryRoutes, async (source) => {
        assert.equal(await source.getManifest('nope'), null);
        assert.equal(await source.getManifest(OTHER_DIGEST), null);
      });
    });

    it('reads a blob with its hash checked', async () => {
      await withSource(registryRoutes, async (source) => {
        assert.deepEqual(Buffer.from(await source.getBlob(BLOB_DIGEST, 1024)), Buffer.from(blob));
      });
    });

    it('refuses a blob larger than the caller allows', async () => {
      await withSource(registryRoutes, async (source) => {
        await rejectsWith(source.getBlob(BLOB_DIGEST, 10), 'SIZE_LIMIT_EXCEEDED');
      });
    });

    it('refuses a blob larger than maxBlobBytes whatever the caller asks', async () => {
      await withSource(
        registryRoutes,
        async (source) => {
          await rejectsWith(source.getBlob(BLOB_DIGEST, 1 << 20), 'SIZE_LIMIT_EXCEEDED');
        },
        (s) => insecure(s, { maxBlobBytes: 8 }),
      );
    });

    it('refuses a missing blob', async () => {
      await withSource(registryRoutes, async (source) => {
        await rejectsWith(source.getBlob(OTHER_DIGEST, 1024), 'REGISTRY_ERROR', /not found/);
      });
    });

    it('refuses malformed tags and digests before any request', async () => {
      await withSource(registryRoutes, async (source, server) => {
        await rejectsWith(source.getManifest('../../etc'), 'INVALID_REFERENCE');
        await rejectsWith(source.getManifest('sha256:abc'), 'INVALID_REFERENCE');
        await rejectsWith(source.getBlob('sha256:xyz', 1), 'INVALID_REFERENCE');
        assert.equal(server.requests.length, 0);
      });
    });

    it('reports every request to onRequest', async () => {
      const events: RegistryRequestEvent[] = [];
      await withSource(
        registryRoutes,
        async (source, server) => {
          await source.getManifest('v1');
          await source.getManifest('nope');
          assert.deepEqual(
            events.map((e) => [e.host, e.path, e.status]),
            [
              [server.host, '/v2/team/app/manifests/v1', 200],
              [server.host, '/v2/team/app/manifests/nope', 404],
            ],
          );
        },
        (s) => insecure(s, { onRequest: (e) => events.push(e) }),
      );
    });
  });

  describe('when the answer is not a usable manifest', () => {
    it('refuses garbage JSON with MANIFEST_INVALID', async () => {
      await withSource(
        (_req, res) => {
          send(res, 200, '{"schemaVersion": 2, "layers": [', { 'content-type': OCI_MANIFEST });
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'MANIFEST_INVALID');
        },
      );
    });

    it('refuses a schema 1 body with MANIFEST_SCHEMA1', async () => {
      await withSource(
        (_req, res) => {
          send(res, 200, '{"schemaVersion":1,"name":"team/app","tag":"v1","fsLayers":[]}', {
            'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
          });
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'MANIFEST_SCHEMA1');
        },
      );
    });

    it('refuses bytes that do not hash to the digest asked for', async () => {
      await withSource(
        (_req, res) => {
          send(res, 200, manifest, { 'content-type': OCI_MANIFEST, 'docker-content-digest': OTHER_DIGEST });
        },
        async (source) => {
          await rejectsWith(source.getManifest(OTHER_DIGEST), 'DIGEST_MISMATCH');
        },
      );
    });

    it('refuses a blob whose bytes do not hash to its digest', async () => {
      await withSource(
        (_req, res) => {
          send(res, 200, 'tampered');
        },
        async (source) => {
          await rejectsWith(source.getBlob(BLOB_DIGEST, 1024), 'DIGEST_MISMATCH');
        },
      );
    });

    it('refuses an oversized manifest announced by Content-Length', async () => {
      const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
      await withSource(
        (_req, res) => {
          send(res, 200, big, { 'content-type': OCI_MANIFEST });
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'SIZE_LIMIT_EXCEEDED');
        },
      );
    });

    it('refuses an oversized manifest streamed without Content-Length', async () => {
      await withSource(
        (_req, res) => {
          res.writeHead(200, { 'content-type': OCI_MANIFEST });
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          let sent = 0;
          const pump = () => {
            // Keeps sending past the limit; stops once the client hangs up.
            while (sent < 8 * 1024 * 1024 && !res.destroyed) {
              sent += chunk.length;
              if (!res.write(chunk)) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          pump();
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'SIZE_LIMIT_EXCEEDED');
        },
      );
    });
  });

  describe('when the registry fails', () => {
    it('maps 500 to REGISTRY_ERROR with the registry error code', async () => {
      await withSource(
        (_req, res) => {
          send(res, 500, '{"errors":[{"code":"UNKNOWN","message":"boom"}]}');
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_ERROR', /500.*UNKNOWN: boom/);
        },
      );
    });

    it('maps 403 to REGISTRY_AUTH_FAILED', async () => {
      await withSource(
        (_req, res) => {
          send(res, 403, '{"errors":[{"code":"DENIED"}]}');
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED');
        },
      );
    });

    it('times out on a server that never answers, quickly', async () => {
      await withSource(
        () => {
          // never answers
        },
        async (source) => {
          const started = Date.now();
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_TIMEOUT');
          assert.ok(Date.now() - started < 5000);
        },
        (s) => insecure(s, { totalTimeoutMs: 300 }),
      );
    });

    it('times out on a body that stalls', async () => {
      await withSource(
        (_req, res) => {
          res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': '1000' });
          res.write('{"schemaVersion":');
        },
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_TIMEOUT');
        },
        (s) => insecure(s, { totalTimeoutMs: 300 }),
      );
    });

    it('maps a refused connection to REGISTRY_UNREACHABLE', async () => {
      const port = await closedPort();
      const host = `127.0.0.1:${port}`;
      const source = createRegistrySource(
        { kind: 'registry', registry: host, repository: 'a' },
        { insecureRegistries: [host] },
      );
      try {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_UNREACHABLE');
      } finally {
        await source.close();
      }
    });

    it('maps an unknown host to REGISTRY_UNREACHABLE', async () => {
      const source = createRegistrySource(
        { kind: 'registry', registry: 'no-such-host.invalid', repository: 'a' },
        { totalTimeoutMs: 10_000 },
      );
      try {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_UNREACHABLE');
      } finally {
        await source.close();
      }
    });
  });

  describe('when the registry wants basic auth', () => {
    const USER = 'alice';
    const PASS = 'p4ss:word';
    const basicRoutes: Handler = (req, res) => {
      const expected = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        send(res, 401, '{"errors":[{"code":"UNAUTHORIZED"}]}', { 'www-authenticate': 'Basic realm="fake"' });
        return;
      }
      registryRoutes(req, res);
    };

    it('sends the docker config credentials after the challenge', async () => {
      await withSource(
        basicRoutes,
        async (source, server) => {
          assert.equal((await source.getManifest('v1'))?.digest, MANIFEST_DIGEST);
          assert.equal(server.requests[0]?.headers.authorization, undefined);
          assert.match(String(server.requests[1]?.headers.authorization), /^Basic /);
          // Later requests send the credentials straight away.
          await source.getBlob(BLOB_DIGEST, 1024);
          assert.equal(server.requests.length, 3);
        },
        (s) => insecure(s, { dockerConfig: dockerConfig(`http://${s.host}`, USER, PASS) }),
      );
    });

    it('fails with REGISTRY_AUTH_FAILED without credentials', async () => {
      await withSource(basicRoutes, async (source) => {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED', /credentials/);
      });
    });

    it('fails with REGISTRY_AUTH_FAILED with wrong credentials', async () => {
      await withSource(
        basicRoutes,
        async (source) => {
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED');
        },
        (s) => insecure(s, { dockerConfig: dockerConfig(s.host, USER, 'wrong') }),
      );
    });
  });

  describe('when the registry wants a bearer token', () => {
    const USER = 'bob';
    const PASS = 'secret';
    let tokenRequests: IncomingMessage[] = [];
    const tokenRoutes =
      (requireCredentials: boolean): Handler =>
      (req, res, server) => {
        const url = new URL(req.url ?? '/', server.url);
        if (url.pathname === '/token') {
          tokenRequests.push(req);
          const basic = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
          if (requireCredentials && req.headers.authorization !== basic) {
            send(res, 401, '{}');
            return;
          }
          const scope = url.searchParams.get('scope') ?? '';
          send(res, 200, JSON.stringify({ token: `tok-${scope}`, expires_in: 300 }), {
            'content-type': 'application/json',
          });
          return;
        }
        if (req.headers.authorization !== 'Bearer tok-repository:team/app:pull') {
          send(res, 401, '{"errors":[{"code":"UNAUTHORIZED"}]}', {
            'www-authenticate': `Bearer realm="${server.url}/token",service="fake-registry",scope="repository:team/app:pull"`,
          });
          return;
        }
        registryRoutes(req, res);
      };

    before(() => {
      tokenRequests = [];
    });

    it('gets a token from the realm with basic credentials and caches it per scope', async () => {
      tokenRequests = [];
      await withServer(
        tokenRoutes(true),
        async (server, options) => {
          const client = createRegistryClient(options);
          try {
            const source = client.source(refTo(server));
            assert.equal((await source.getManifest('v1'))?.digest, MANIFEST_DIGEST);
            await source.getBlob(BLOB_DIGEST, 1024);
            // A second source for the same repository reuses the cached token.
            const again = client.source(refTo(server));
            assert.equal((await again.getManifest(MANIFEST_DIGEST))?.digest, MANIFEST_DIGEST);
            assert.equal(tokenRequests.length, 1);
            const tokenUrl = new URL(tokenRequests[0]?.url ?? '', server.url);
            assert.equal(tokenUrl.searchParams.get('service'), 'fake-registry');
            assert.equal(tokenUrl.searchParams.get('scope'), 'repository:team/app:pull');
            assert.match(String(tokenRequests[0]?.headers.authorization), /^Basic /);
          } finally {
            await client.close();
          }
        },
        (s) => insecure(s, { dockerConfig: dockerConfig(s.host, USER, PASS) }),
      );
    });

    it('gets an anonymous token when no credentials are configured', async () => {
      tokenRequests = [];
      await withSource(tokenRoutes(false), async (source) => {
        assert.equal((await source.getManifest('v1'))?.digest, MANIFEST_DIGEST);
        assert.equal(tokenRequests[0]?.headers.authorization, undefined);
      });
    });

    it('fails with REGISTRY_AUTH_FAILED when the token endpoint refuses', async () => {
      await withSource(tokenRoutes(true), async (source) => {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED', /token endpoint/);
      });
    });

    it('fails with REGISTRY_AUTH_FAILED when the token is not accepted', async () => {
      await withSource(
        (req, res, server) => {
          if ((req.url ?? '').startsWith('/token')) {
            send(res, 200, '{"token":"useless"}');
            return;
          }
          send(res, 401, '{}', { 'www-authenticate': `Bearer realm="${server.url}/token",service="x"` });
        },
        async (source, server) => {
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED');
          assert.ok(server.requests.length <= 6, `${server.requests.length} requests`);
        },
      );
    });

    it('refuses a plain-http realm on a host that is not an insecure registry', async () => {
      const realm = await startFakeServer((_req, res) => {
        send(res, 200, '{"token":"t"}');
      });
      try {
        await withSource(
          (_req, res) => {
            send(res, 401, '{}', { 'www-authenticate': `Bearer realm="${realm.url}/token"` });
          },
          async (source) => {
            await rejectsWith(source.getManifest('v1'), 'REGISTRY_AUTH_FAILED', /plain http/);
            assert.equal(realm.requests.length, 0);
          },
        );
      } finally {
        await realm.close();
      }
    });
  });

  describe('when the registry redirects', () => {
    it('follows a blob redirect to another host without sending Authorization there', async () => {
      const storage = await startFakeServer((_req, res) => {
        send(res, 200, blob);
      });
      try {
        await withSource(
          (req, res) => {
            if (req.headers.authorization === undefined) {
              send(res, 401, '{}', { 'www-authenticate': 'Basic realm="fake"' });
              return;
            }
            res.writeHead(307, { location: `${storage.url}/bucket/blob?sig=abc`, 'content-length': '0' });
            res.end();
          },
          async (source, server) => {
            assert.deepEqual(Buffer.from(await source.getBlob(BLOB_DIGEST, 1024)), Buffer.from(blob));
            assert.equal(storage.requests.length, 1);
            assert.equal(storage.requests[0]?.url, '/bucket/blob?sig=abc');
            assert.equal(storage.requests[0].headers.authorization, undefined);
            assert.match(String(server.requests.at(-1)?.headers.authorization), /^Basic /);
          },
          (s) => ({
            insecureRegistries: [s.host],
            dockerConfig: dockerConfig(s.host, 'u', 'p'),
          }),
        );
      } finally {
        await storage.close();
      }
    });

    it('follows a relative redirect on the same registry keeping Authorization', async () => {
      await withSource(
        (req, res) => {
          if (req.url === '/moved') {
            send(res, 200, blob);
            return;
          }
          res.writeHead(302, { location: '/moved', 'content-length': '0' });
          res.end();
        },
        async (source, server) => {
          assert.equal((await source.getBlob(BLOB_DIGEST, 1024)).length, blob.length);
          assert.equal(server.requests.length, 2);
        },
      );
    });

    it('gives up after three redirects', async () => {
      await withSource(
        (_req, res) => {
          res.writeHead(307, { location: '/again', 'content-length': '0' });
          res.end();
        },
        async (source, server) => {
          await rejectsWith(source.getBlob(BLOB_DIGEST, 1024), 'REGISTRY_ERROR', /redirects/);
          assert.equal(server.requests.length, 4);
        },
      );
    });

    it('refuses a redirect to a non-http scheme', async () => {
      await withSource(
        (_req, res) => {
          res.writeHead(302, { location: 'file:///etc/passwd', 'content-length': '0' });
          res.end();
        },
        async (source) => {
          await rejectsWith(source.getBlob(BLOB_DIGEST, 1024), 'REGISTRY_REDIRECT_REFUSED');
        },
      );
    });
  });

  describe('when the registry speaks TLS', () => {
    let tls: TestTls;
    before(async () => {
      tls = await makeTestTls();
    });

    it('trusts the registry through its CA bundle', async () => {
      const server = await startFakeServer(registryRoutes, tls);
      const source = createRegistrySource(refTo(server), { caBundles: { [server.host]: tls.caPem } });
      try {
        assert.equal((await source.getManifest('v1'))?.digest, MANIFEST_DIGEST);
      } finally {
        await source.close();
        await server.close();
      }
    });

    it('fails with REGISTRY_TLS_ERROR without the CA', async () => {
      const server = await startFakeServer(registryRoutes, tls);
      const source = createRegistrySource(refTo(server));
      try {
        await rejectsWith(source.getManifest('v1'), 'REGISTRY_TLS_ERROR');
      } finally {
        await source.close();
        await server.close();
      }
    });

    it('refuses a redirect from https to plain http', async () => {
      const plain = await startFakeServer((_req, res) => {
        send(res, 200, blob);
      });
      const server = await startFakeServer((_req, res) => {
        res.writeHead(307, { location: `${plain.url}/blob`, 'content-length': '0' });
        res.end();
      }, tls);
      const source = createRegistrySource(refTo(server), {
        caBundles: { [server.host]: tls.caPem },
        insecureRegistries: [plain.host],
      });
      try {
        await rejectsWith(source.getBlob(BLOB_DIGEST, 1024), 'REGISTRY_REDIRECT_REFUSED');
        assert.equal(plain.requests.length, 0);
      } finally {
        await source.close();
        await server.close();
        await plain.close();
      }
    });

    it('uses https for 127.0.0.1 unless it is listed as insecure', async () => {
      await withSource(
        registryRoutes,
        async (source, server) => {
          await rejectsWith(source.getManifest('v1'), 'REGISTRY_TLS_ERROR');
          assert.equal(server.requests.length, 0);
        },
        () => ({}),
      );
    });
  });

  describe('getReferrers', () => {
    const index = enc({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: MANIFEST_DIGEST,
          size: manifest.length,
          artifactType: 'application/x',
        },
      ],
    });

    it('returns the referrers index', async () => {
      await withSource(
        (req, res) => {
          if (req.url === `/v2/team/app/referrers/${OTHER_DIGEST}`) {
            send(res, 200, index, { 'content-type': OCI_INDEX });
            return;
          }
          send(res, 404, '');
        },
        async (source, server) => {
          const got = await source.getReferrers(OTHER_DIGEST);
          assert.ok(got);
          assert.equal(got.mediaType, OCI_INDEX);
          assert.equal(got.digest, sha256Digest(index));
          assert.equal(server.requests[0]?.headers.accept, OCI_INDEX);
        },
      );
    });

    it('gives null when the API is missing (404)', async () => {
      await withSource(registryRoutes, async (source) => {
        assert.equal(await source.getReferrers(OTHER_DIGEST), null);
      });
    });

    it('gives null when the answer is not an OCI index', async () => {
      await withSource(
        (_req, res) => {
          send(res, 200, '<html>welcome</html>', { 'content-type': 'text/html' });
        },
        async (source) => {
          assert.equal(await source.getReferrers(OTHER_DIGEST), null);
        },
      );
    });

    it('refuses an answer typed as an index that is a manifest', async () => {
      await withSource(
        (_req, res) => {
          send(res, 200, manifest, { 'content-type': OCI_INDEX });
        },
        async (source) => {
          await rejectsWith(source.getReferrers(OTHER_DIGEST), 'MANIFEST_INVALID');
        },
      );
    });
  });
});
