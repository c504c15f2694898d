/**
 * Request logging: at the default level (info) a successful answer writes no line (it is in the
 * audit trail; at debug it is logged), a refused one only the error handler's `request refused`
 * line, and no line ever holds the bearer token.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApp, createLogger } from '../../src/server/app.ts';
import { bearer, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

describe('request logging', () => {
  let env: TestEnv;
  let lines: Record<string, unknown>[];
  let app: FastifyInstance | undefined;
  beforeEach(async () => {
    env = await startTestApp();
    lines = [];
  });
  afterEach(async () => {
    await app?.close();
    await env.close();
  });

  async function appAt(level: 'info' | 'debug'): Promise<FastifyInstance> {
    const logger = createLogger({
      level,
      destination: {
        write: (line: string) => {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        },
      },
    });
    app = await createApp({ appliance: env.appliance, logger });
    await app.ready();
    return app;
  }

  const messages = (): unknown[] => lines.map((l) => l['msg']);

  describe('when the level is info', () => {
    it('logs no line for an answered decision and one for a refused request, never the token', async () => {
      const a = await appAt('info');
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      const ok = await a.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: bearer(env.tokens.verifier),
        payload: { image: `oci:${dir}` },
      });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(messages(), []);
      const refused = await a.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: bearer(env.tokens.auditor),
        payload: { image: `oci:${dir}` },
      });
      assert.equal(refused.statusCode, 403);
      // The error handler's line, with the code; no per-request line besides.
      assert.deepEqual(messages(), ['request refused']);
      assert.equal(lines[0]?.['code'], 'FORBIDDEN');
      const text = JSON.stringify(lines);
      assert.equal(text.includes(env.tokens.auditor), false);
      assert.equal(text.includes(env.tokens.verifier), false);
    });
  });

  describe('when the level is debug', () => {
    it('logs every answer with its status and time', async () => {
      const a = await appAt('debug');
      const res = await a.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.statusCode, 200);
      const done = lines.find((l) => l['msg'] === 'request completed');
      assert.ok(done !== undefined, JSON.stringify(lines));
      assert.equal(done['statusCode'], 200);
      assert.equal(typeof done['responseTime'], 'number');
    });
  });
});
