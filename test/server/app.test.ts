/**
 * The app as a whole: error answers, body limits, health and readiness, metrics, the generated
 * OpenAPI document and docs page, and logs free of secrets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp, createLogger } from '../../src/server/app.ts';
import { bearer, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

describe('appliance app', () => {
  let env: TestEnv;
  before(async () => {
    env = await startTestApp();
  });
  after(async () => {
    await env.close();
  });

  describe('when a body is too large', () => {
    it('answers 413 with {code, message}', async () => {
      const res = await env.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: { ...bearer(env.tokens.verifier), 'content-type': 'application/json' },
        payload: JSON.stringify({ image: 'a'.repeat(70 * 1024) }),
      });
      assert.equal(res.statusCode, 413);
      const body = res.json<Record<string, unknown>>();
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
      assert.equal(body['code'], 'SIZE_LIMIT_EXCEEDED');
    });
  });

  describe('when a body is not JSON', () => {
    it('answers 400 REQUEST_INVALID for malformed JSON and 415 for another media type', async () => {
      const bad = await env.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: { ...bearer(env.tokens.verifier), 'content-type': 'application/json' },
        payload: '{"image": ',
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json<{ code: string }>().code, 'REQUEST_INVALID');
      const text = await env.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: { ...bearer(env.tokens.verifier), 'content-type': 'application/xml' },
        payload: '<image/>',
      });
      assert.equal(text.statusCode, 415);
      assert.equal(text.json<{ code: string }>().code, 'REQUEST_INVALID');
    });
  });

  describe('when probed', () => {
    it('reports health and readiness with the configuration version', async () => {
      assert.deepEqual((await env.app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
      const ready = await env.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.equal(
        ready.json<{ configVersion: string }>().configVersion,
        env.appliance.current().config.version,
      );
    });
  });

  describe('when metrics are scraped', () => {
    it('exposes decisions by outcome and policy, latency, and refusals in Prometheus text', async () => {
      const dir = path.join(env.layouts, 'm');
      writeSignedLayout(dir, env.key);
      await env.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: bearer(env.tokens.verifier),
        payload: { image: `oci:${dir}` },
      });
      await env.app.inject({ method: 'GET', url: '/metrics' });
      const res = await env.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: bearer(env.tokens.auditor),
      });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(res.body, /^countersign_decisions_total\{outcome="allow"\} 1$/m);
      assert.match(res.body, /^countersign_policy_decisions_total\{outcome="allow",policy="default"\} 1$/m);
      assert.match(res.body, /^countersign_verify_duration_seconds_count 1$/m);
      assert.match(res.body, /^countersign_verify_duration_seconds_bucket\{le="\+Inf"\} 1$/m);
      assert.match(res.body, /^countersign_auth_refused_total\{reason="missing"\} \d+$/m);
      assert.match(res.body, /^# TYPE countersign_registry_requests_total counter$/m);
    });
  });

  describe('when the API is documented', () => {
    it('generates OpenAPI 3.1 from the route schemas, with bodies and responses', async () => {
      const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        openapi: string;
        paths: Record<
          string,
          Record<string, { requestBody?: unknown; responses: Record<string, unknown>; 'x-access': string }>
        >;
      }>();
      assert.equal(doc.openapi, '3.1.0');
      const verify = doc.paths['/v1/verify']?.['post'];
      assert.ok(verify?.requestBody);
      assert.ok(verify.responses['200']);
      assert.ok(verify.responses['4XX']);
      assert.equal(verify['x-access'], 'verify');
      assert.ok(doc.paths['/v1/policies/{name}']?.['put']);
      assert.ok(doc.paths['/v1/audit/entries/{index}']?.['get']);
      assert.equal(doc.paths['/openapi.json'], undefined);
      assert.doesNotMatch(JSON.stringify(doc), /"\$ref":"(Error|Receipt|AuditEntry)#"/);
    });

    it('serves a plain HTML docs page without external resources', async () => {
      const res = await env.app.inject({ method: 'GET', url: '/docs' });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] ?? '', /^text\/html/);
      assert.match(res.body, /\/v1\/verify/);
      assert.doesNotMatch(res.body, /<script|https?:\/\//);
    });
  });
});

describe('logging', () => {
  describe('when requests carry tokens', () => {
    it('never writes the token to the log', async () => {
      const env = await startTestApp();
      let logged = '';
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          logged += chunk.toString('utf8');
          done();
        },
      });
      const app = await createApp({
        appliance: env.appliance,
        logger: createLogger({ level: 'trace', destination: sink }),
      });
      try {
        await app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(env.tokens.admin) });
        await app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(`${env.tokens.admin}x`) });
        app.log.info(
          { req: { headers: { authorization: `Bearer ${env.tokens.admin}` } }, token: env.tokens.admin },
          'probe',
        );
        assert.match(logged, /"msg":"probe"/);
        const secret = env.tokens.admin.split('_')[2] ?? 'missing';
        assert.ok(!logged.includes(secret), 'a token secret reached the log');
        assert.match(logged, /\[redacted\]/);
      } finally {
        await app.close();
        await env.close();
      }
    });
  });
});
