/**
 * The appliance against a real registry (CNCF distribution on loopback), images signed in-process:
 * registry requests and errors reach /metrics through RegistryOptions.onRequest; the shared
 * client serves every request; a cached allow of a tag costs one registry request (the digest is
 * still resolved afresh); a request in flight across a configuration reload completes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startRegistry } from '../support/registry.ts';
import type { TestRegistry } from '../support/registry.ts';
import { bearer, startTestApp } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';
import { pushSignedImage } from './registry-images.ts';

interface Answer {
  allowed: boolean;
  cached: boolean;
  code: string | null;
  digest: string | null;
}

const REQUESTS = 'countersign_registry_requests_total';
const ERRORS = 'countersign_registry_errors_total';

describe('appliance with a registry', () => {
  let reg: TestRegistry;
  let env: TestEnv;
  before(async () => {
    reg = await startRegistry();
    env = await startTestApp();
    writeFileSync(
      path.join(env.configDir, 'countersign.yaml'),
      `registries:\n  "${reg.host}": { insecure: true }\n  "127.0.0.1:1": { insecure: true }\n`,
    );
    await env.appliance.reload('it-admin', 'test registry');
  });
  after(async () => {
    await env.close();
    await reg.stop();
  });

  async function verify(image: string): Promise<Answer> {
    const res = await env.app.inject({
      method: 'POST',
      url: '/v1/verify',
      headers: bearer(env.tokens.verifier),
      payload: { image },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<Answer>();
  }

  const requests = (status: string): number =>
    env.appliance.metrics.value(REQUESTS, { host: reg.host, status });

  describe('when a signed image is verified by tag', () => {
    it('counts its registry requests and answers a repeat from the cache with one request', async () => {
      const digest = await pushSignedImage(reg, 'vendor/algo', '1.0', env.key);
      const first = await verify(`${reg.host}/vendor/algo:1.0`);
      assert.deepEqual([first.allowed, first.cached, first.digest], [true, false, digest]);
      const afterFirst = requests('2xx') + requests('4xx');
      // The manifest, the signature manifest and its payload at least.
      assert.ok(afterFirst >= 3, `registry requests: ${afterFirst}`);
      const second = await verify(`${reg.host}/vendor/algo:1.0`);
      assert.deepEqual([second.allowed, second.cached, second.digest], [true, true, digest]);
      assert.equal(requests('2xx') + requests('4xx') - afterFirst, 1);
      const text = env.appliance.metrics.render();
      assert.match(text, new RegExp(`${REQUESTS}\\{host="${reg.host}",status="2xx"\\} \\d+`));
    });

    it('asks nothing of the registry for a cached digest-pinned reference', async () => {
      const digest = await pushSignedImage(reg, 'vendor/pinned', '1.0', env.key);
      assert.equal((await verify(`${reg.host}/vendor/pinned@${digest}`)).cached, false);
      const before = requests('2xx') + requests('4xx');
      assert.equal((await verify(`${reg.host}/vendor/pinned@${digest}`)).cached, true);
      assert.equal(requests('2xx') + requests('4xx'), before);
    });
  });

  describe('when the registry cannot be reached', () => {
    it('denies with REGISTRY_UNREACHABLE and counts the error by host and code', async () => {
      const answer = await verify('127.0.0.1:1/vendor/algo:1.0');
      assert.equal(answer.allowed, false);
      assert.equal(answer.code, 'REGISTRY_UNREACHABLE');
      assert.ok(
        env.appliance.metrics.value(ERRORS, { host: '127.0.0.1:1', code: 'REGISTRY_UNREACHABLE' }) >= 1,
        env.appliance.metrics.render(),
      );
      assert.ok(env.appliance.metrics.value(REQUESTS, { host: '127.0.0.1:1', status: 'none' }) >= 1);
    });
  });

  describe('when the configuration is reloaded while requests are in flight', () => {
    it('lets them finish on the old client and serves later ones with the new', async () => {
      const digests = await Promise.all(
        [0, 1, 2, 3].map((i) => pushSignedImage(reg, `vendor/reload${String(i)}`, '1.0', env.key)),
      );
      const oldClient = env.appliance.current().client;
      const base = requests('2xx') + requests('4xx');
      const inFlight = digests.map((_, i) => verify(`${reg.host}/vendor/reload${String(i)}:1.0`));
      // Reload once the requests are talking to the registry through the old client.
      while (requests('2xx') + requests('4xx') === base) await new Promise((r) => setImmediate(r));
      // A real change, so the state (and its client) is replaced.
      writeFileSync(
        path.join(env.configDir, 'countersign.yaml'),
        `registries:\n  "${reg.host}": { insecure: true }\ncache: { ttlSeconds: 60 }\n`,
      );
      const reload = await env.appliance.reload('it-admin', 'cache ttl');
      assert.equal(reload.changed, true);
      assert.notEqual(env.appliance.current().client, oldClient);
      const answers = await Promise.all(inFlight);
      assert.deepEqual(
        answers.map((a) => [a.allowed, a.digest]),
        digests.map((d) => [true, d]),
      );
      const later = await verify(`${reg.host}/vendor/reload0:1.0`);
      assert.deepEqual([later.allowed, later.cached], [true, false]);
    });
  });
});
