/**
 * The decision cache in the appliance: a repeated allow is answered from the cache, still audited
 * (one entry per request) and marked `cached` in the entry and the answer; denials are never
 * cached; any configuration change (new version) misses; cache.ttlSeconds 0 turns it off.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_POLICY, bearer, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

interface Answer {
  allowed: boolean;
  cached: boolean;
  digest: string | null;
  receipt: { index: number };
}

const HITS = 'countersign_decision_cache_hits_total';
const MISSES = 'countersign_decision_cache_misses_total';

describe('decision cache in POST /v1/verify', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await startTestApp();
  });
  afterEach(async () => {
    await env.close();
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

  function payloadOf(index: number): Record<string, unknown> {
    return JSON.parse(env.data.audit.getEntry(index).entry.payloadText) as Record<string, unknown>;
  }

  describe('when the same signed image is verified again', () => {
    it('answers from the cache, audits every request and marks the cached one', async () => {
      const dir = path.join(env.layouts, 'signed');
      const digest = writeSignedLayout(dir, env.key);
      const first = await verify(`oci:${dir}`);
      const second = await verify(`oci:${dir}`);
      const third = await verify(`oci:${dir}@${digest}`);
      assert.deepEqual(
        [first, second, third].map((a) => [a.allowed, a.cached, a.digest]),
        [
          [true, false, digest],
          [true, true, digest],
          [true, true, digest],
        ],
      );
      assert.equal(second.receipt.index, first.receipt.index + 1);
      assert.equal(payloadOf(first.receipt.index)['cached'], false);
      assert.equal(payloadOf(second.receipt.index)['cached'], true);
      assert.equal(payloadOf(second.receipt.index)['decision'], 'allow');
      assert.equal(payloadOf(third.receipt.index)['cached'], true);
      assert.equal(env.appliance.metrics.value(HITS), 2);
      assert.equal(env.appliance.metrics.value(MISSES), 1);
      assert.match(env.appliance.metrics.render(), /countersign_decision_cache_hits_total 2\n/);
    });
  });

  describe('when the image is denied', () => {
    it('never caches the denial', async () => {
      const dir = path.join(env.layouts, 'unsigned');
      writeSignedLayout(dir, null);
      const answers = [await verify(`oci:${dir}`), await verify(`oci:${dir}`)];
      assert.deepEqual(
        answers.map((a) => [a.allowed, a.cached]),
        [
          [false, false],
          [false, false],
        ],
      );
      assert.equal(env.appliance.metrics.value(HITS), 0);
      assert.equal(env.appliance.metrics.value(MISSES), 2);
    });
  });

  describe('when the configuration changes', () => {
    it('misses: the cache is keyed with the configuration version', async () => {
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      await verify(`oci:${dir}`);
      assert.equal((await verify(`oci:${dir}`)).cached, true);
      const before = env.appliance.current().config.version;
      await env.appliance.change({
        target: 'policy',
        name: 'default',
        content: `${DEFAULT_POLICY}# reviewed again\n`,
        actor: 'it-admin',
        reason: 'test',
      });
      assert.notEqual(env.appliance.current().config.version, before);
      const after = await verify(`oci:${dir}`);
      assert.deepEqual([after.allowed, after.cached], [true, false]);
      assert.equal((await verify(`oci:${dir}`)).cached, true);
    });

    it('keeps cached allows over a reload that changes nothing', async () => {
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      await verify(`oci:${dir}`);
      const reload = await env.appliance.reload('it-admin', 'test');
      assert.equal(reload.changed, false);
      assert.equal((await verify(`oci:${dir}`)).cached, true);
    });
  });

  describe('when cache.ttlSeconds is 0', () => {
    it('verifies every request afresh and counts no lookups', async () => {
      writeFileSync(path.join(env.configDir, 'countersign.yaml'), 'cache: { ttlSeconds: 0 }\n');
      await env.appliance.reload('it-admin', 'cache off');
      assert.equal(env.appliance.current().cache, undefined);
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      const answers = [await verify(`oci:${dir}`), await verify(`oci:${dir}`)];
      assert.deepEqual(
        answers.map((a) => [a.allowed, a.cached]),
        [
          [true, false],
          [true, false],
        ],
      );
      assert.equal(env.appliance.metrics.value(HITS) + env.appliance.metrics.value(MISSES), 0);
    });
  });
});
