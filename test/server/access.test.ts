/**
 * Access control (Part 11 §11.10(d), (g)): every role and no token against every route, and every
 * refusal on the record with the principal presented, never the secret.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import { clientCertificateName } from '../../src/server/auth.ts';
import { VirtualSigstore } from '../support/virtual-sigstore.ts';
import { bearer, p256Key, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

type Who = 'none' | 'verifier' | 'auditor' | 'admin';
const WHO: readonly Who[] = ['none', 'verifier', 'auditor', 'admin'];

interface RouteCase {
  readonly name: string;
  readonly request: (env: TestEnv) => InjectOptions;
  /** Who gets a 2xx; everybody else 401 (no token) or 403. `open`: everybody. */
  readonly allowed: 'open' | 'verifier' | 'reader' | 'admin';
}

let trustRootJson = '';
const extraKey = p256Key().publicPem;

const ROUTES: readonly RouteCase[] = [
  { name: 'GET /healthz', allowed: 'open', request: () => ({ method: 'GET', url: '/healthz' }) },
  { name: 'GET /readyz', allowed: 'open', request: () => ({ method: 'GET', url: '/readyz' }) },
  { name: 'GET /openapi.json', allowed: 'open', request: () => ({ method: 'GET', url: '/openapi.json' }) },
  { name: 'GET /docs', allowed: 'open', request: () => ({ method: 'GET', url: '/docs' }) },
  {
    name: 'POST /v1/verify',
    allowed: 'verifier',
    request: (env) => ({
      method: 'POST',
      url: '/v1/verify',
      payload: { image: `oci:${path.join(env.layouts, 'img')}` },
    }),
  },
  { name: 'GET /v1/policies', allowed: 'reader', request: () => ({ method: 'GET', url: '/v1/policies' }) },
  {
    name: 'GET /v1/policies/:name',
    allowed: 'reader',
    request: () => ({ method: 'GET', url: '/v1/policies/default' }),
  },
  {
    name: 'GET /v1/trust-roots',
    allowed: 'reader',
    request: () => ({ method: 'GET', url: '/v1/trust-roots' }),
  },
  { name: 'GET /v1/keys', allowed: 'reader', request: () => ({ method: 'GET', url: '/v1/keys' }) },
  { name: 'GET /v1/audit', allowed: 'reader', request: () => ({ method: 'GET', url: '/v1/audit' }) },
  {
    name: 'GET /v1/audit/checkpoint',
    allowed: 'reader',
    request: () => ({ method: 'GET', url: '/v1/audit/checkpoint' }),
  },
  {
    name: 'GET /v1/audit/entries/:index',
    allowed: 'reader',
    request: () => ({ method: 'GET', url: '/v1/audit/entries/0' }),
  },
  {
    name: 'GET /v1/audit/consistency',
    allowed: 'reader',
    request: () => ({ method: 'GET', url: '/v1/audit/consistency?from=1' }),
  },
  { name: 'GET /metrics', allowed: 'reader', request: () => ({ method: 'GET', url: '/metrics' }) },
  {
    name: 'PUT /v1/policies/:name',
    allowed: 'admin',
    request: () => ({
      method: 'PUT',
      url: '/v1/policies/extra',
      payload: {
        reason: 'matrix',
        content:
          'name: extra\nimages: ["registry.example/extra/**"]\nsigners:\n  - { name: v, key: vendor.pub }\n',
      },
    }),
  },
  {
    name: 'DELETE /v1/policies/:name',
    allowed: 'admin',
    request: () => ({ method: 'DELETE', url: '/v1/policies/extra', payload: { reason: 'matrix' } }),
  },
  {
    name: 'PUT /v1/keys/:name',
    allowed: 'admin',
    request: () => ({
      method: 'PUT',
      url: '/v1/keys/extra.pub',
      payload: { reason: 'matrix', content: extraKey },
    }),
  },
  {
    name: 'DELETE /v1/keys/:name',
    allowed: 'admin',
    request: () => ({ method: 'DELETE', url: '/v1/keys/extra.pub', payload: { reason: 'matrix' } }),
  },
  {
    name: 'PUT /v1/trust-roots/:name',
    allowed: 'admin',
    request: () => ({
      method: 'PUT',
      url: '/v1/trust-roots/private',
      payload: { reason: 'matrix', content: trustRootJson },
    }),
  },
  {
    name: 'DELETE /v1/trust-roots/:name',
    allowed: 'admin',
    request: () => ({ method: 'DELETE', url: '/v1/trust-roots/private', payload: { reason: 'matrix' } }),
  },
  {
    name: 'POST /v1/admin/reload',
    allowed: 'admin',
    request: () => ({ method: 'POST', url: '/v1/admin/reload', payload: { reason: 'matrix' } }),
  },
];

function expectedStatus(route: RouteCase, who: Who): number {
  if (route.allowed === 'open') return 200;
  if (who === 'none') return 401;
  const ok =
    route.allowed === 'verifier'
      ? who === 'verifier'
      : route.allowed === 'reader'
        ? who === 'auditor' || who === 'admin'
        : who === 'admin';
  return ok ? 200 : 403;
}

describe('access control', () => {
  let env: TestEnv;
  before(async () => {
    env = await startTestApp();
    writeSignedLayout(path.join(env.layouts, 'img'), env.key);
    trustRootJson = JSON.stringify((await VirtualSigstore.create()).trustedRoot());
  });
  after(async () => {
    await env.close();
  });

  describe('when every role and no token call every route', () => {
    for (const route of ROUTES) {
      it(`answers ${route.name} as its access rule says`, async () => {
        for (const who of WHO) {
          const request = route.request(env);
          const res = await env.app.inject({
            ...request,
            headers: { ...(request.headers ?? {}), ...(who === 'none' ? {} : bearer(env.tokens[who])) },
          });
          assert.equal(res.statusCode, expectedStatus(route, who), `${who}: ${res.body}`);
          if (res.statusCode === 401 || res.statusCode === 403) {
            const body = res.json<{ code: string; message: string }>();
            assert.equal(body.code, res.statusCode === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
          }
        }
      });
    }
  });

  describe('when a request is refused', () => {
    it('records an auth-refused entry naming the token and the route, never the secret', async () => {
      const before = env.data.audit.size();
      const res = await env.app.inject({
        method: 'GET',
        url: '/v1/audit',
        headers: bearer(env.tokens.verifier),
      });
      assert.equal(res.statusCode, 403);
      assert.equal(env.data.audit.size(), before + 1);
      const entry = env.data.audit.getEntry(before).entry;
      assert.equal(entry.kind, 'auth-refused');
      assert.equal(entry.actor, 'mercure');
      const payload = JSON.parse(entry.payloadText) as Record<string, unknown>;
      assert.equal(payload['route'], '/v1/audit');
      assert.equal(payload['reason'], 'forbidden');
      assert.equal(payload['status'], 403);
      const secret = env.tokens.verifier.split('_')[2] ?? 'missing';
      assert.ok(!entry.payloadText.includes(secret));
    });

    it('records a wrong secret for a known token id under the token name with reason mismatch', async () => {
      const [, id] = env.tokens.admin.split('_');
      const forged = `cs_${id ?? ''}_${'0'.repeat(64)}`;
      const before = env.data.audit.size();
      const res = await env.app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(forged) });
      assert.equal(res.statusCode, 401);
      const entry = env.data.audit.getEntry(before).entry;
      assert.equal(entry.kind, 'auth-refused');
      assert.equal(entry.actor, 'it-admin');
      const payload = JSON.parse(entry.payloadText) as Record<string, unknown>;
      assert.equal(payload['reason'], 'mismatch');
      assert.equal(payload['tokenId'], id);
    });

    it('records a missing token as anonymous', async () => {
      const before = env.data.audit.size();
      const res = await env.app.inject({ method: 'POST', url: '/v1/verify', payload: { image: 'x' } });
      assert.equal(res.statusCode, 401);
      const entry = env.data.audit.getEntry(before).entry;
      assert.equal(entry.actor, 'anonymous');
      assert.equal((JSON.parse(entry.payloadText) as Record<string, unknown>)['reason'], 'missing');
    });

    it('refuses a revoked token with 401 and reason revoked', async () => {
      const created = env.data.tokens.create({ name: 'short-lived', role: 'auditor', createdBy: 'test' });
      const ok = await env.app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(created.token) });
      assert.equal(ok.statusCode, 200);
      env.data.tokens.revoke('short-lived', 'test');
      const before = env.data.audit.size();
      const res = await env.app.inject({ method: 'GET', url: '/v1/keys', headers: bearer(created.token) });
      assert.equal(res.statusCode, 401);
      const payload = JSON.parse(env.data.audit.getEntry(before).entry.payloadText) as Record<
        string,
        unknown
      >;
      assert.equal(payload['reason'], 'revoked');
    });

    it('does not audit open routes or unknown paths', async () => {
      const before = env.data.audit.size();
      assert.equal((await env.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      const notFound = await env.app.inject({ method: 'GET', url: '/v1/nothing' });
      assert.equal(notFound.statusCode, 404);
      assert.equal(notFound.json<{ code: string }>().code, 'NOT_FOUND');
      assert.equal(env.data.audit.size(), before);
    });
  });
});

describe('clientCertificateName', () => {
  const socket = (authorized: boolean, subject: Record<string, unknown> | undefined) => ({
    authorized,
    getPeerCertificate: () => (subject === undefined ? {} : { subject }),
  });

  describe('when the TLS layer verified a client certificate', () => {
    it('returns its subject CN', () => {
      assert.equal(clientCertificateName(socket(true, { CN: 'mercure', O: 'Hospital' })), 'mercure');
    });
  });

  describe('when there is no usable certificate', () => {
    it('returns undefined for plain sockets, unverified certificates, several or empty CNs', () => {
      assert.equal(clientCertificateName({}), undefined);
      assert.equal(clientCertificateName(null), undefined);
      assert.equal(clientCertificateName(socket(false, { CN: 'mercure' })), undefined);
      assert.equal(clientCertificateName(socket(true, { CN: ['a', 'b'] })), undefined);
      assert.equal(clientCertificateName(socket(true, { CN: '' })), undefined);
      assert.equal(clientCertificateName(socket(true, undefined)), undefined);
    });
  });
});
