/**
 * countersign-cosign and the Python client against the real appliance (the server's app on
 * 127.0.0.1, port 0), with the exact argument forms of Mercure's processor and signing guide:
 * `cosign verify --key KEY IMAGE` and `cosign verify --certificate-identity=ID
 * --certificate-oidc-issuer=ISS IMAGE` (and the processor's `verify IMAGE --certificate-identity ID
 * --certificate-oidc-issuer ISS`). Images are OCI layouts signed in-process the way cosign signs,
 * by keys and by Fulcio-style certificates of a virtual Sigstore the appliance trusts.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { p256Key, startTestApp, writeSignedLayout } from '../server/fixtures.ts';
import type { TestEnv, TestKeyPair } from '../server/fixtures.ts';
import { VirtualSigstore } from '../support/virtual-sigstore.ts';
import { runShim } from './run-shim.ts';
import { byCertificate, byKey, writeLayout } from './signed-layouts.ts';

const IDENTITY = 'ci-bot@vendor.example';
const ISSUER = 'https://sso.vendor.example';
let env: TestEnv;
let url: string;
let shimEnv: Record<string, string>;
/** The vendor key file as Mercure's module settings name it (the appliance holds the same key). */
let vendorKeyFile: string;
/** A key the appliance also holds (keys/second.pub) that signed nothing. */
let secondKeyFile: string;
/** A key of the caller's own, unknown to the appliance, that did sign the image. */
let ownKeyFile: string;
let signed: string;
let signedDigest: string;
let unsigned: string;
let keyless: string;
let keylessDigest: string;

function writeKeyFile(name: string, key: TestKeyPair): string {
  const file = path.join(env.root, name);
  writeFileSync(file, key.publicPem);
  return file;
}

before(async () => {
  env = await startTestApp();
  const second = p256Key();
  const own = p256Key();
  writeFileSync(path.join(env.configDir, 'keys', 'second.pub'), second.publicPem);
  const sigstore = await VirtualSigstore.create();
  mkdirSync(path.join(env.configDir, 'trust-root', 'vendor-sigstore'), { recursive: true });
  writeFileSync(
    path.join(env.configDir, 'trust-root', 'vendor-sigstore', 'trusted_root.json'),
    JSON.stringify(sigstore.trustedRoot()),
  );
  await env.appliance.reload('test', 'fixtures');
  await env.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(env.app.server.address() as AddressInfo).port}`;
  vendorKeyFile = writeKeyFile('vendor.pub', env.key);
  secondKeyFile = writeKeyFile('second.pub', second);
  ownKeyFile = writeKeyFile('own.pub', own);
  signed = path.join(env.layouts, 'signed');
  unsigned = path.join(env.layouts, 'unsigned');
  mkdirSync(signed);
  mkdirSync(unsigned);
  signedDigest = writeSignedLayout(signed, env.key);
  writeSignedLayout(unsigned, null);
  // Signed by the vendor key (the appliance's default policy) and by the CI identity.
  keyless = path.join(env.layouts, 'keyless');
  const leaf = await sigstore.issueLeaf({ email: IDENTITY, issuer: ISSUER });
  keylessDigest = writeLayout(keyless, [byKey(env.key), byKey(own), byCertificate(leaf, sigstore)]);
  const tokenFile = path.join(env.root, 'verifier-token');
  writeFileSync(tokenFile, `${env.tokens.verifier}\n`, { mode: 0o600 });
  shimEnv = { COUNTERSIGN_URL: url, COUNTERSIGN_TOKEN_FILE: tokenFile };
});

after(async () => {
  await env.close();
});

interface Payload {
  critical: { image: { 'docker-manifest-digest': string } };
  optional: Record<string, unknown>;
}

describe('countersign-cosign against the appliance', () => {
  describe('when Mercure runs cosign verify --key KEY IMAGE and the key signed the image', () => {
    it('exits 0 with the resolved digest, and the decision with the key is in the audit trail', async () => {
      const before = env.data.audit.size();
      const run = await runShim(['verify', '--key', vendorKeyFile, `oci:${signed}:latest`], shimEnv);
      assert.equal(run.code, 0, run.stderr);
      const payloads = JSON.parse(run.stdout) as Payload[];
      assert.equal(payloads.length, 1);
      const payload = payloads[0]!;
      assert.equal(payload.critical.image['docker-manifest-digest'], signedDigest);
      assert.deepEqual(payload.optional['countersign.policies'], ['ad-hoc', 'default']);
      assert.equal(env.data.audit.size(), before + 1);
      assert.equal(payload.optional['countersign.auditEntry'], before);
      const entry = JSON.parse(env.data.audit.getEntry(before).entry.payloadText) as {
        require: { keys: string[] };
        adHocPolicy: { signers: string[] };
      };
      assert.equal(entry.require.keys.length, 1);
      assert.deepEqual(entry.adHocPolicy.signers, ['vendor.pub']);
    });
  });

  describe('when a policy map also names a policy for the key', () => {
    it('sends both and the appliance checks both', async () => {
      const mapFile = path.join(env.root, 'policy-map.json');
      writeFileSync(
        mapFile,
        JSON.stringify({ rules: [{ key: vendorKeyFile, policy: 'default', module: 'algo' }] }),
      );
      const run = await runShim(['verify', '--key', vendorKeyFile, `oci:${signed}:latest`], {
        ...shimEnv,
        COUNTERSIGN_POLICY_MAP: mapFile,
      });
      assert.equal(run.code, 0, run.stderr);
      const payload = (JSON.parse(run.stdout) as Payload[])[0]!;
      assert.deepEqual(payload.optional['countersign.policies'], ['ad-hoc', 'default']);
    });
  });

  describe('when the image is not signed', () => {
    it('exits 1 naming the reason code', async () => {
      const run = await runShim(['verify', '--key', vendorKeyFile, `oci:${unsigned}:latest`], shimEnv);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^Error: countersign denied oci:.*\[NO_SIGNATURES\]: /m);
    });
  });

  describe('when --key names an appliance key that did not sign the image', () => {
    it('exits 1: the image policy passes, the key does not', async () => {
      const run = await runShim(['verify', '--key', secondKeyFile, `oci:${signed}:latest`], shimEnv);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^Error: countersign denied oci:.*\[SIGNATURE_INVALID\]: .*ad-hoc: denied/m);
    });
  });

  describe("when --key names the caller's own key", () => {
    it('exits 1: the appliance refuses a key it does not hold, even one that signed', async () => {
      const before = env.data.audit.size();
      const run = await runShim(['verify', '--key', ownKeyFile, `oci:${keyless}:latest`], shimEnv);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /\(HTTP 400\) \[KEY_INVALID\]: key is not one of this appliance's keys/);
      assert.equal(env.data.audit.size(), before);
    });
  });

  describe('when Mercure runs the signing guide identity form', () => {
    it('exits 0 for the identity and issuer that signed the image', async () => {
      const run = await runShim(
        [
          'verify',
          `--certificate-identity=${IDENTITY}`,
          `--certificate-oidc-issuer=${ISSUER}`,
          `oci:${keyless}:latest`,
        ],
        shimEnv,
      );
      assert.equal(run.code, 0, run.stderr);
      const payload = (JSON.parse(run.stdout) as Payload[])[0]!;
      assert.equal(payload.critical.image['docker-manifest-digest'], keylessDigest);
      assert.deepEqual(payload.optional['countersign.policies'], ['ad-hoc', 'default']);
    });

    it("exits 1 for another module's identity, in the processor's argument order", async () => {
      const run = await runShim(
        [
          'verify',
          `oci:${keyless}:latest`,
          '--certificate-identity',
          'other-bot@vendor.example',
          '--certificate-oidc-issuer',
          ISSUER,
        ],
        shimEnv,
      );
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^Error: countersign denied oci:.*\[IDENTITY_MISMATCH\]/m);
    });

    it('exits 1 when the identity signed but the image fails its own policy', async () => {
      const run = await runShim(
        [
          'verify',
          `--certificate-identity=${IDENTITY}`,
          `--certificate-oidc-issuer=${ISSUER}`,
          `oci:${unsigned}:latest`,
        ],
        shimEnv,
      );
      assert.equal(run.code, 1);
      assert.match(run.stderr, /\[NO_SIGNATURES\]/);
    });
  });

  describe('when the token is not a verifier token', () => {
    it('exits 1 with the appliance error code', async () => {
      const run = await runShim(['verify', '--key', vendorKeyFile, `oci:${signed}:latest`], {
        COUNTERSIGN_URL: url,
        COUNTERSIGN_TOKEN: env.tokens.auditor,
      });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /\(HTTP 403\) \[FORBIDDEN\]/);
    });
  });

  describe('when the named policy does not exist on the appliance', () => {
    it('exits 1: the appliance refuses the request', async () => {
      const run = await runShim(['verify', '--policy', 'no-such-policy', `oci:${signed}:latest`], shimEnv);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /\(HTTP 400\) \[REQUEST_INVALID\]: no policy named no-such-policy/);
    });
  });

  describe('when the appliance is down', () => {
    it("exits 1 with a message, well within the timeout, for both of Mercure's forms", async () => {
      // A port that was just the appliance's and is closed now.
      const down = await startTestApp();
      await down.app.listen({ host: '127.0.0.1', port: 0 });
      const downUrl = `http://127.0.0.1:${(down.app.server.address() as AddressInfo).port}`;
      await down.close();
      for (const args of [
        ['verify', '--key', vendorKeyFile, `oci:${signed}:latest`],
        [
          'verify',
          `--certificate-identity=${IDENTITY}`,
          `--certificate-oidc-issuer=${ISSUER}`,
          `oci:${keyless}:latest`,
        ],
      ]) {
        const run = await runShim(args, { ...shimEnv, COUNTERSIGN_URL: downUrl });
        assert.equal(run.code, 1);
        assert.equal(run.stdout, '');
        assert.match(run.stderr, /\[APPLIANCE_UNREACHABLE\]: cannot reach .*; treating as denied/);
        assert.ok(run.elapsedMs < 55_000, `took ${run.elapsedMs} ms`);
      }
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
