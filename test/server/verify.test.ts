/**
 * POST /v1/verify against OCI layouts signed in-process: allow, deny, exactly one audit entry per
 * decision written before the answer, a receipt whose inclusion proof verifies against its signed
 * checkpoint, 503 (never an allow) when the trail cannot be written, and bad requests.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { entryLeafData, hashLeaf, openCheckpoint, verifyInclusion } from '../../src/audit/index.ts';
import { bearer, p256Key, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

interface VerifyAnswer {
  allowed: boolean;
  code: string | null;
  digest: string | null;
  pinned: string | null;
  explanation: string;
  policies: {
    name: string;
    contentHash: string;
    passed: boolean;
    signers: { name: string; satisfied: boolean; reasons: { code: string }[] }[];
  }[];
  receipt: {
    index: number;
    checkpoint: string;
    inclusionProof: { leafIndex: number; treeSize: number; hashes: string[] };
  };
}

describe('POST /v1/verify', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await startTestApp();
  });
  afterEach(async () => {
    await env.close();
  });

  const verify = (image: string, extra: Record<string, unknown> = {}) =>
    env.app.inject({
      method: 'POST',
      url: '/v1/verify',
      headers: bearer(env.tokens.verifier),
      payload: { image, ...extra },
    });

  describe('when the image is signed by the policy key', () => {
    it('allows it, names the digest and records one decision entry before answering', async () => {
      const dir = path.join(env.layouts, 'signed');
      const digest = writeSignedLayout(dir, env.key);
      const before = env.data.audit.size();
      const res = await verify(`oci:${dir}`, {
        context: { caller: 'mercure-1', taskId: 't-42', module: 'algo' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const answer = res.json<VerifyAnswer>();
      assert.equal(answer.allowed, true);
      assert.equal(answer.code, null);
      assert.equal(answer.digest, digest);
      assert.equal(answer.pinned, `oci:${dir}@${digest}`);
      assert.equal(answer.policies[0]?.name, 'default');
      assert.equal(answer.policies[0].signers[0]?.satisfied, true);
      assert.equal(env.data.audit.size(), before + 1);
      const entry = env.data.audit.getEntry(answer.receipt.index).entry;
      assert.equal(entry.kind, 'decision');
      assert.equal(entry.actor, 'mercure');
      const payload = JSON.parse(entry.payloadText) as Record<string, unknown>;
      assert.equal(payload['decision'], 'allow');
      assert.equal(payload['digest'], digest);
      assert.deepEqual(payload['context'], { caller: 'mercure-1', taskId: 't-42', module: 'algo' });
      assert.equal(payload['configVersion'], env.appliance.current().config.version);
      const policies = payload['policies'] as { contentHash: string; signers: { name: string }[] }[];
      assert.equal(policies[0]?.contentHash, answer.policies[0].contentHash);
      assert.equal(policies[0].signers[0]?.name, 'vendor');
    });

    it('returns a receipt whose inclusion proof verifies against the signed checkpoint', async () => {
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      // A few entries first, so the proof is not trivial.
      for (let i = 0; i < 4; i++) await verify(`oci:${dir}`);
      const answer = (await verify(`oci:${dir}`)).json<VerifyAnswer>();
      const { receipt } = answer;
      const checkpoint = openCheckpoint(receipt.checkpoint, env.data.key.publicKey, {
        origin: env.data.origin,
      });
      assert.equal(checkpoint.size, receipt.inclusionProof.treeSize);
      const entry = env.data.audit.getEntry(receipt.index).entry;
      // The leaf is recomputed from the stored row, not taken from the store's own hash.
      const leaf = hashLeaf(entryLeafData(entry));
      const hashes = receipt.inclusionProof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64')));
      assert.ok(hashes.length > 0);
      assert.equal(
        verifyInclusion(
          receipt.inclusionProof.leafIndex,
          receipt.inclusionProof.treeSize,
          leaf,
          hashes,
          checkpoint.root,
        ),
        true,
      );
      const tampered = hashLeaf(new TextEncoder().encode('another entry'));
      assert.equal(
        verifyInclusion(
          receipt.inclusionProof.leafIndex,
          receipt.inclusionProof.treeSize,
          tampered,
          hashes,
          checkpoint.root,
        ),
        false,
      );
    });
  });

  describe('when the image is not acceptably signed', () => {
    it('denies an unsigned image with 200 and NO_SIGNATURES, and records the denial', async () => {
      const dir = path.join(env.layouts, 'unsigned');
      writeSignedLayout(dir, null);
      const before = env.data.audit.size();
      const res = await verify(`oci:${dir}`);
      assert.equal(res.statusCode, 200);
      const answer = res.json<VerifyAnswer>();
      assert.equal(answer.allowed, false);
      assert.equal(answer.code, 'NO_SIGNATURES');
      assert.equal(env.data.audit.size(), before + 1);
      const payload = JSON.parse(env.data.audit.getEntry(answer.receipt.index).entry.payloadText) as Record<
        string,
        unknown
      >;
      assert.equal(payload['decision'], 'deny');
      assert.equal(payload['code'], 'NO_SIGNATURES');
    });

    it('denies a signature by another key with SIGNATURE_INVALID and the signer reason', async () => {
      const dir = path.join(env.layouts, 'other-key');
      writeSignedLayout(dir, p256Key());
      const answer = (await verify(`oci:${dir}`)).json<VerifyAnswer>();
      assert.equal(answer.allowed, false);
      assert.equal(answer.code, 'SIGNATURE_INVALID');
      assert.equal(answer.policies[0]?.signers[0]?.reasons[0]?.code, 'SIGNATURE_INVALID');
    });

    it('denies a signature over another digest with PAYLOAD_DIGEST_MISMATCH', async () => {
      const dir = path.join(env.layouts, 'other-digest');
      writeSignedLayout(dir, env.key, { signedDigest: `sha256:${'ab'.repeat(32)}` });
      const answer = (await verify(`oci:${dir}`)).json<VerifyAnswer>();
      assert.equal(answer.allowed, false);
      assert.equal(answer.code, 'PAYLOAD_DIGEST_MISMATCH');
    });

    it('writes exactly one entry per decision over a mixed sequence', async () => {
      const good = path.join(env.layouts, 'good');
      const bad = path.join(env.layouts, 'bad');
      writeSignedLayout(good, env.key);
      writeSignedLayout(bad, null);
      const before = env.data.audit.size();
      const answers = await Promise.all([good, bad, good, bad, good].map((d) => verify(`oci:${d}`)));
      const indexes = answers.map((a) => a.json<VerifyAnswer>().receipt.index);
      assert.equal(env.data.audit.size(), before + 5);
      assert.equal(new Set(indexes).size, 5);
      const decisions = env.data.audit.listEntries({ kind: 'decision' }).entries;
      assert.equal(decisions.filter((e) => e.index >= before).length, 5);
    });
  });

  describe('when the decision cannot be recorded', () => {
    it('answers 503 AUDIT_UNAVAILABLE and never an allow', async () => {
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      env.data.audit.close();
      const res = await verify(`oci:${dir}`);
      assert.equal(res.statusCode, 503);
      const body = res.json<Record<string, unknown>>();
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
      assert.equal(body['code'], 'AUDIT_UNAVAILABLE');
      assert.equal(env.appliance.metrics.value('countersign_decisions_total', { outcome: 'unrecorded' }), 1);
      assert.equal(env.appliance.metrics.value('countersign_decisions_total', { outcome: 'allow' }), 0);
      const ready = await env.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
    });
  });

  describe('when the request is bad', () => {
    it('refuses an oci: path outside the layout roots with 400 LAYOUT_PATH_FORBIDDEN and no entry', async () => {
      const outside = path.join(env.root, 'outside');
      writeSignedLayout(outside, env.key);
      const before = env.data.audit.size();
      const res = await verify(`oci:${outside}`);
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'LAYOUT_PATH_FORBIDDEN');
      assert.equal(env.data.audit.size(), before);
    });

    it('refuses a symlink inside a layout root that leads outside it', async () => {
      const outside = path.join(env.root, 'outside2');
      writeSignedLayout(outside, env.key);
      const link = path.join(env.layouts, 'link');
      symlinkSync(outside, link);
      const res = await verify(`oci:${link}`);
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'LAYOUT_PATH_FORBIDDEN');
    });

    it('refuses /etc as a layout', async () => {
      const res = await verify('oci:/etc');
      assert.equal(res.json<{ code: string }>().code, 'LAYOUT_PATH_FORBIDDEN');
    });

    it('answers 400 REQUEST_INVALID for an unknown policy name', async () => {
      const res = await verify('registry.example/app:1', { policy: 'no-such-policy' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
    });

    it('answers 400 INVALID_REFERENCE for a malformed reference', async () => {
      const res = await verify('UPPER/Case::bad');
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ code: string }>().code, 'INVALID_REFERENCE');
    });

    it('answers 400 REQUEST_INVALID for unknown fields and missing image', async () => {
      for (const payload of [
        { image: 'a/b:1', extra: true },
        {},
        { image: 'a/b:1', context: { patient: 'x' } },
      ]) {
        const res = await env.app.inject({
          method: 'POST',
          url: '/v1/verify',
          headers: bearer(env.tokens.verifier),
          payload,
        });
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
        assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
      }
    });
  });

  describe('when a policy is named', () => {
    it('evaluates it in addition to the policies matching the image', async () => {
      const strict = `name: strict\nimages: ["registry.example/none/**"]\nsigners:\n  - { name: a, key: vendor.pub }\n  - { name: b, key: second.pub }\nthreshold: 2\n`;
      mkdirSync(path.join(env.configDir, 'policies'), { recursive: true });
      const put = async (url: string, content: string) =>
        env.app.inject({
          method: 'PUT',
          url,
          headers: bearer(env.tokens.admin),
          payload: { reason: 'test', content },
        });
      assert.equal((await put('/v1/keys/second.pub', p256Key().publicPem)).statusCode, 200);
      assert.equal((await put('/v1/policies/strict', strict)).statusCode, 200);
      const dir = path.join(env.layouts, 'signed');
      writeSignedLayout(dir, env.key);
      const plain = (await verify(`oci:${dir}`)).json<VerifyAnswer>();
      assert.equal(plain.allowed, true);
      assert.deepEqual(
        plain.policies.map((p) => p.name),
        ['default'],
      );
      const named = (await verify(`oci:${dir}`, { policy: 'strict' })).json<VerifyAnswer>();
      assert.equal(named.allowed, false);
      // The image's own (default) policy still applies: naming a policy only adds requirements.
      assert.deepEqual(named.policies.map((p) => p.name).sort(), ['default', 'strict']);
      assert.equal(named.code, 'THRESHOLD_NOT_MET');
    });
  });
});
