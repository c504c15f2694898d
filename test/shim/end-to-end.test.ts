/**
 * countersign-cosign and the Python client against the real appliance (the server's app on
 * 127.0.0.1, port 0), with images in OCI layouts signed in-process the way `cosign sign --key` does.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, writeSignedLayout } from '../server/fixtures.ts';
import type { TestEnv } from '../server/fixtures.ts';
import { runShim } from './run-shim.ts';

const KEY_FLAG = '/opt/mercure/keys/vendor.pub';
let env: TestEnv;
let url: string;
let shimEnv: Record<string, string>;
let signed: string;
let signedDigest: string;
let unsigned: string;

before(async () => {
  env = await startTestApp();
  await env.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(env.app.server.address() as AddressInfo).port}`;
  signed = path.join(env.layouts, 'signed');
  unsigned = path.join(env.layouts, 'unsigned');
  mkdirSync(signed);
  mkdirSync(unsigned);
  signedDigest = writeSignedLayout(signed, env.key);
  writeSignedLayout(unsigned, null);
  const tokenFile = path.join(env.root, 'verifier-token');
  writeFileSync(tokenFile, `${env.tokens.verifier}\n`, { mode: 0o600 });
  const mapFile = path.join(env.root, 'policy-map.json');
  writeFileSync(mapFile, JSON.stringify({ rules: [{ key: KEY_FLAG, policy: 'default', module: 'algo' }] }));
  shimEnv = { COUNTERSIGN_URL: url, COUNTERSIGN_TOKEN_FILE: tokenFile, COUNTERSIGN_POLICY_MAP: mapFile };
});

after(async () => {
  await env.close();
});

describe('countersign-cosign against the appliance', () => {
  describe('when the image carries a signature by the policy key', () => {
    it('exits 0 with the resolved digest, and the decision is in the audit trail', async () => {
      const before = env.data.audit.size();
      const run = await runShim(['verify', '--key', KEY_FLAG, `oci:${signed}:latest`], shimEnv);
      assert.equal(run.code, 0, run.stderr);
      const payloads = JSON.parse(run.stdout) as {
        critical: { image: { 'docker-manifest-digest': string } };
        optional: Record<string, unknown>;
      }[];
      assert.equal(payloads.length, 1);
      const payload = payloads[0]!;
      assert.equal(payload.critical.image['docker-manifest-digest'], signedDigest);
      assert.deepEqual(payload.optional['countersign.policies'], ['default']);
      assert.equal(env.data.audit.size(), before + 1);
      assert.equal(payload.optional['countersign.auditEntry'], before);
    });
  });

  describe('when the image is not signed', () => {
    it('exits 1 naming the reason code', async () => {
      const run = await runShim(['verify', '--key', KEY_FLAG, `oci:${unsigned}:latest`], shimEnv);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^Error: countersign denied oci:.*\[[A-Z_]+\]: /m);
    });
  });

  describe('when the token is not a verifier token', () => {
    it('exits 1 with the appliance error code', async () => {
      const run = await runShim(['verify', '--key', KEY_FLAG, `oci:${signed}:latest`], {
        COUNTERSIGN_URL: url,
        COUNTERSIGN_TOKEN: env.tokens.auditor,
        COUNTERSIGN_POLICY_MAP: shimEnv['COUNTERSIGN_POLICY_MAP'] ?? '',
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /\(HTTP 403\) \[FORBIDDEN\]/);
    });
  });

  describe('when the mapped policy does not exist on the appliance', () => {
    it('exits 1: the appliance refuses the request', async () => {
      const run = await runShim(['verify', '--policy', 'no-such-policy', `oci:${signed}:latest`], shimEnv);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /\(HTTP 400\) \[REQUEST_INVALID\]: no policy named no-such-policy/);
    });
  });
});

describe('countersign_client.py against the appliance', () => {
  it('returns the allow with its pinned digest', async () => {
    const script = [
      'import json, sys, countersign_client as c',
      'd = c.verify(sys.argv[1], policy="default", context={"caller": "mercure"}, url=sys.argv[2], token=sys.argv[3])',
      'print(json.dumps({"pinned": c.require_allowed(d), "digest": d["digest"]}))',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        'python3',
        ['-c', script, `oci:${signed}:latest`, url, env.tokens.verifier],
        {
          cwd: path.join(import.meta.dirname, '../../clients/python'),
          env: { PATH: process.env['PATH'] ?? '', PYTHONDONTWRITEBYTECODE: '1' },
          timeout: 60_000,
        },
        (error, stdout, stderr) => {
          if (error === null) resolve(stdout);
          else reject(new Error(`${error.message}\n${stderr}`));
        },
      );
    });
    const answer = JSON.parse(out) as { pinned: string; digest: string };
    assert.equal(answer.digest, signedDigest);
    assert.ok(answer.pinned.endsWith(`@${signedDigest}`));
  });
});
