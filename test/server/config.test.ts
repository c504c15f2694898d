/**
 * Configuration routes: reads with content hashes and history; admin changes validated on a staged
 * copy (nothing written when invalid), recorded with actor, reason, old and new hashes, then
 * applied; reloads that keep the old configuration when the new one does not load.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_POLICY, bearer, p256Key, startTestApp } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

const hashOf = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

const POLICY_V2 = `name: default
default: true
signers:
  - name: vendor
    key: vendor.pub
threshold: 1
mode: warn
`;

describe('configuration routes', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await startTestApp();
  });
  afterEach(async () => {
    await env.close();
  });

  const admin = (method: 'PUT' | 'DELETE' | 'POST', url: string, payload: Record<string, unknown>) =>
    env.app.inject({ method, url, headers: bearer(env.tokens.admin), payload });
  const read = (url: string) => env.app.inject({ method: 'GET', url, headers: bearer(env.tokens.auditor) });
  const lastEntry = () => {
    const e = env.data.audit.getEntry(env.data.audit.size() - 1).entry;
    return { entry: e, payload: JSON.parse(e.payloadText) as Record<string, unknown> };
  };

  describe('when a policy is changed by an admin', () => {
    it('writes the file, reloads, and records actor, reason, old and new content hashes', async () => {
      const file = path.join(env.configDir, 'policies', 'default.yaml');
      const oldText = readFileSync(file, 'utf8');
      const res = await admin('PUT', '/v1/policies/default', {
        reason: 'CAPA-17: warn only',
        content: POLICY_V2,
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<{ changed: boolean; oldHash: string; newHash: string; index: number }>();
      assert.equal(body.changed, true);
      assert.equal(body.oldHash, hashOf(oldText));
      assert.equal(body.newHash, hashOf(POLICY_V2));
      assert.equal(readFileSync(file, 'utf8'), POLICY_V2);
      const { entry, payload } = lastEntry();
      assert.equal(entry.index, body.index);
      assert.equal(entry.kind, 'config-change');
      assert.equal(entry.actor, 'it-admin');
      assert.equal(payload['reason'], 'CAPA-17: warn only');
      assert.equal(payload['oldHash'], hashOf(oldText));
      assert.equal(payload['newHash'], hashOf(POLICY_V2));
      assert.equal(payload['policy'], 'default');
      assert.equal(env.appliance.current().policyTexts.get('default')?.text, POLICY_V2);
      const shown = (await read('/v1/policies/default')).json<{
        contentHash: string;
        content: string;
        history: { index: number; oldHash: string; newHash: string; reason: string }[];
      }>();
      assert.equal(shown.content, POLICY_V2);
      assert.equal(shown.contentHash, hashOf(POLICY_V2));
      assert.deepEqual(
        shown.history.map((h) => [h.index, h.oldHash, h.newHash, h.reason]),
        [[body.index, hashOf(oldText), hashOf(POLICY_V2), 'CAPA-17: warn only']],
      );
    });

    it('refuses a policy that does not lint with 400 POLICY_INVALID and writes nothing', async () => {
      const before = env.data.audit.size();
      const file = path.join(env.configDir, 'policies', 'default.yaml');
      const oldText = readFileSync(file, 'utf8');
      const res = await admin('PUT', '/v1/policies/default', {
        reason: 'typo',
        content: 'name: default\nsigners:\n  - { name: v, key: missing.pub }\nthreshhold: 1\n',
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'POLICY_INVALID');
      assert.equal(readFileSync(file, 'utf8'), oldText);
      assert.equal(env.data.audit.size(), before);
    });

    it('refuses a policy whose name differs from the route', async () => {
      const res = await admin('PUT', '/v1/policies/other', {
        reason: 'x',
        content: 'name: mismatch\nimages: ["r.example/x/**"]\nsigners:\n  - { name: v, key: vendor.pub }\n',
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'POLICY_INVALID');
      assert.equal(existsSync(path.join(env.configDir, 'policies', 'other.yaml')), false);
    });

    it('requires a reason', async () => {
      const res = await admin('PUT', '/v1/policies/default', { content: POLICY_V2 });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
    });

    it('records a deletion with the old hash and a null new hash', async () => {
      const extra = 'name: extra\nimages: ["r.example/x/**"]\nsigners:\n  - { name: v, key: vendor.pub }\n';
      assert.equal(
        (await admin('PUT', '/v1/policies/extra', { reason: 'add', content: extra })).statusCode,
        200,
      );
      const res = await admin('DELETE', '/v1/policies/extra', { reason: 'retired' });
      assert.equal(res.statusCode, 200);
      const { payload } = lastEntry();
      assert.equal(payload['action'], 'delete');
      assert.equal(payload['oldHash'], hashOf(extra));
      assert.equal(payload['newHash'], null);
      assert.equal((await read('/v1/policies/extra')).statusCode, 404);
      assert.equal((await admin('DELETE', '/v1/policies/extra', { reason: 'again' })).statusCode, 404);
    });
  });

  describe('when keys change', () => {
    it('adds a key and lists it with its fingerprint and content hash', async () => {
      const pem = p256Key().publicPem;
      assert.equal(
        (await admin('PUT', '/v1/keys/qa.pub', { reason: 'new signer', content: pem })).statusCode,
        200,
      );
      const keys = (await read('/v1/keys')).json<{
        keys: { name: string; contentHash: string; algorithm: string }[];
      }>();
      const qa = keys.keys.find((k) => k.name === 'qa.pub');
      assert.equal(qa?.contentHash, hashOf(pem));
      assert.equal(qa.algorithm, 'ecdsa-p256');
    });

    it('refuses a key that does not parse with 400 KEY_INVALID', async () => {
      const res = await admin('PUT', '/v1/keys/bad.pub', { reason: 'x', content: 'not a key' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'KEY_INVALID');
      assert.equal(existsSync(path.join(env.configDir, 'keys', 'bad.pub')), false);
    });

    it('refuses to delete a key a policy still uses', async () => {
      const res = await admin('DELETE', '/v1/keys/vendor.pub', { reason: 'x' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'POLICY_INVALID');
      assert.equal(existsSync(path.join(env.configDir, 'keys', 'vendor.pub')), true);
    });
  });

  describe('when a trust root is uploaded', () => {
    it('refuses one that does not validate with 400 TRUST_ROOT_INVALID', async () => {
      const res = await admin('PUT', '/v1/trust-roots/private', {
        reason: 'x',
        content: '{"mediaType":"nope"}',
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'TRUST_ROOT_INVALID');
      assert.equal(existsSync(path.join(env.configDir, 'trust-root', 'private')), false);
    });
  });

  describe('when the configuration is reloaded', () => {
    it('records a change of version with the files that changed', async () => {
      writeFileSync(path.join(env.configDir, 'policies', 'default.yaml'), POLICY_V2);
      const before = env.appliance.current().config.version;
      const res = await admin('POST', '/v1/admin/reload', { reason: 'edited on disk' });
      assert.equal(res.statusCode, 200);
      const body = res.json<{ changed: boolean; previousVersion: string; configVersion: string }>();
      assert.equal(body.changed, true);
      assert.equal(body.previousVersion, before);
      const { payload } = lastEntry();
      assert.equal(payload['action'], 'reload');
      assert.deepEqual(payload['files'], [
        { path: 'policies/default.yaml', oldHash: hashOf(DEFAULT_POLICY), newHash: hashOf(POLICY_V2) },
      ]);
    });

    it('records nothing when nothing changed', async () => {
      const before = env.data.audit.size();
      const res = await admin('POST', '/v1/admin/reload', { reason: 'check' });
      assert.equal(res.json<{ changed: boolean }>().changed, false);
      assert.equal(env.data.audit.size(), before);
    });

    it('keeps the old configuration when the directory no longer loads', async () => {
      const version = env.appliance.current().config.version;
      writeFileSync(path.join(env.configDir, 'policies', 'broken.yaml'), 'name: [');
      const res = await admin('POST', '/v1/admin/reload', { reason: 'x' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'POLICY_INVALID');
      assert.equal(env.appliance.current().config.version, version);
    });
  });

  describe('when policies are listed', () => {
    it('shows each policy with its content hash and the configuration version', async () => {
      const res = await read('/v1/policies');
      const body = res.json<{
        configVersion: string;
        policies: { name: string; contentHash: string; default: boolean }[];
      }>();
      assert.equal(body.configVersion, env.appliance.current().config.version);
      assert.deepEqual(
        body.policies.map((p) => [p.name, p.default]),
        [['default', true]],
      );
      assert.equal(
        body.policies[0]?.contentHash,
        env.appliance.current().policyTexts.get('default')?.contentHash,
      );
    });
  });
});
