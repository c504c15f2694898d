import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePublicKeyPem } from '../../src/verify/keys.ts';
import { allowAnswer, denyAnswer, DIGEST, startFakeAppliance } from './fake-appliance.ts';
import type { FakeAnswer, FakeAppliance, RecordedRequest } from './fake-appliance.ts';
import { runShim } from './run-shim.ts';

const IMAGE = 'registry.hospital.example/vendor/brain-seg:v2.1.0';
const IDENTITY = 'ci-bot@vendor.example';
const ISSUER = 'https://sso.vendor.example';
const TOKEN = 'cst_verifier_0123456789abcdef';

let dir: string;
let tokenFile: string;
let mapFile: string;
/** A public key file as Mercure's module settings name it, mapped to policy vendor-b. */
let mappedKey: string;
let mappedFingerprint: string;
/** A public key file no map rule names. */
let otherKey: string;
let otherFingerprint: string;

function writePublicKey(file: string): string {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(file, pem);
  return parsePublicKeyPem(pem, file).fingerprint;
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'countersign-shim-'));
  mappedKey = path.join(dir, 'vendor-b.pub');
  mappedFingerprint = writePublicKey(mappedKey);
  otherKey = path.join(dir, 'k.pub');
  otherFingerprint = writePublicKey(otherKey);
  tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  mapFile = path.join(dir, 'policy-map.json');
  writeFileSync(
    mapFile,
    JSON.stringify({
      rules: [
        {
          certificateIdentity: IDENTITY,
          certificateOidcIssuer: ISSUER,
          policy: 'vendor-a',
          module: 'brain-seg',
        },
        { key: mappedKey, policy: 'vendor-b' },
      ],
    }),
  );
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function withAppliance(
  answer: (req: RecordedRequest) => FakeAnswer | undefined,
  body: (fake: FakeAppliance, env: Record<string, string>) => Promise<void>,
): Promise<void> {
  const fake = await startFakeAppliance(answer);
  try {
    await body(fake, {
      COUNTERSIGN_URL: fake.url,
      COUNTERSIGN_TOKEN_FILE: tokenFile,
      COUNTERSIGN_POLICY_MAP: mapFile,
    });
  } finally {
    await fake.close();
  }
}

const allowAll = (req: RecordedRequest): FakeAnswer => allowAnswer((req.body as { image: string }).image);

describe('countersign-cosign', () => {
  describe('when Mercure runs its processor command line and the appliance allows', () => {
    it('exits 0, prints the payload with the resolved digest and sends the flags, the mapped policy and the token', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        // process_series.py: ["verify", docker_tag, "--certificate-identity", id, "--certificate-oidc-issuer", iss]
        const run = await runShim(
          ['verify', IMAGE, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER],
          env,
        );
        assert.equal(run.code, 0, run.stderr);
        const payloads = JSON.parse(run.stdout) as {
          critical: {
            identity: { 'docker-reference': string };
            image: { 'docker-manifest-digest': string };
            type: string;
          };
        }[];
        assert.equal(payloads.length, 1);
        assert.equal(payloads[0]!.critical.image['docker-manifest-digest'], DIGEST);
        assert.equal(
          payloads[0]!.critical.identity['docker-reference'],
          'registry.hospital.example/vendor/brain-seg',
        );
        assert.equal(payloads[0]!.critical.type, 'cosign container image signature');
        assert.match(
          run.stderr,
          /Verification for registry\.hospital\.example\/vendor\/brain-seg:v2\.1\.0 --/,
        );
        assert.match(run.stderr, /The following checks were performed on each of these signatures:/);
        assert.equal(fake.requests.length, 1);
        const req = fake.requests[0]!;
        assert.equal(req.method, 'POST');
        assert.equal(req.url, '/v1/verify');
        assert.equal(req.authorization, `Bearer ${TOKEN}`);
        assert.deepEqual(req.body, {
          image: IMAGE,
          policy: 'vendor-a',
          require: { certificateIdentity: IDENTITY, certificateOidcIssuer: ISSUER },
          context: { caller: 'countersign-cosign', module: 'brain-seg' },
        });
      });
    });
  });

  describe('when Mercure runs the signing guide command line (--flag=value before the image)', () => {
    it('exits 0 with the same policy', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const run = await runShim(
          ['verify', `--certificate-identity=${IDENTITY}`, `--certificate-oidc-issuer=${ISSUER}`, IMAGE],
          env,
        );
        assert.equal(run.code, 0, run.stderr);
        assert.equal((fake.requests[0]?.body as { policy: string }).policy, 'vendor-a');
      });
    });
  });

  describe('when called with --key and -o json', () => {
    it("sends the key's fingerprint and the policy mapped to the key path, and exits 0", async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const run = await runShim(['verify', '--key', mappedKey, '-o', 'json', IMAGE], env);
        assert.equal(run.code, 0, run.stderr);
        const body = fake.requests[0]?.body as { policy: string; require: unknown };
        assert.equal(body.policy, 'vendor-b');
        assert.deepEqual(body.require, { keys: [mappedFingerprint] });
      });
    });
  });

  describe('when COUNTERSIGN_POLICY is set', () => {
    it('uses it for flags the map does not know', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const run = await runShim(['verify', '--key', otherKey, IMAGE], {
          ...env,
          COUNTERSIGN_POLICY: 'radiology-prod',
        });
        assert.equal(run.code, 0, run.stderr);
        const body = fake.requests[0]?.body as { policy: string; require: unknown };
        assert.equal(body.policy, 'radiology-prod');
        assert.deepEqual(body.require, { keys: [otherFingerprint] });
      });
    });
  });

  describe('when no named policy applies to the flags', () => {
    it('sends the key fingerprint alone: the appliance checks it with the image policies', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const run = await runShim(['verify', '--key', otherKey, IMAGE], env);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(fake.requests[0]?.body, {
          image: IMAGE,
          require: { keys: [otherFingerprint] },
          context: { caller: 'countersign-cosign' },
        });
      });
    });

    it('sends COUNTERSIGN_TRUST_ROOT with an identity, and not with a key alone', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const withRoot = { ...env, COUNTERSIGN_TRUST_ROOT: 'corporate' };
        const byIdentity = await runShim(
          ['verify', '--certificate-identity-regexp=.*@hospital\\.example', IMAGE],
          withRoot,
        );
        assert.equal(byIdentity.code, 0, byIdentity.stderr);
        const byKey = await runShim(['verify', '--key', otherKey, IMAGE], withRoot);
        assert.equal(byKey.code, 0, byKey.stderr);
        assert.deepEqual(
          fake.requests.map((r) => (r.body as { require: unknown }).require),
          [
            { certificateIdentityRegexp: '.*@hospital\\.example', trustRoot: 'corporate' },
            { keys: [otherFingerprint] },
          ],
        );
      });
    });
  });

  describe('when the appliance denies', () => {
    it('exits 1 with the reason code and explanation on stderr and nothing on stdout', async () => {
      await withAppliance(
        (req) =>
          denyAnswer(
            (req.body as { image: string }).image,
            'THRESHOLD_NOT_MET',
            'policy vendor-a: 0 of 1 signers satisfied',
          ),
        async (_fake, env) => {
          const run = await runShim(
            ['verify', IMAGE, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER],
            env,
          );
          assert.equal(run.code, 1);
          assert.equal(run.stdout, '');
          assert.match(
            run.stderr,
            /Error: countersign denied .*\[THRESHOLD_NOT_MET\]: policy vendor-a: 0 of 1 signers/,
          );
        },
      );
    });
  });

  describe('when the appliance answers an error', () => {
    it('exits 1 naming the error code', async () => {
      await withAppliance(
        () => ({ status: 401, body: { code: 'UNAUTHENTICATED', message: 'unknown token' } }),
        async (_fake, env) => {
          const run = await runShim(['verify', '--policy', 'vendor-a', IMAGE], env);
          assert.equal(run.code, 1);
          assert.match(run.stderr, /HTTP 401\) \[UNAUTHENTICATED\]: unknown token; treating as denied/);
        },
      );
    });
  });

  describe('when the appliance allows without a digest', () => {
    it('exits 1: an allow it cannot pin is no allow', async () => {
      await withAppliance(
        () => ({
          status: 200,
          body: { allowed: true, code: null, explanation: '', image: IMAGE, digest: null },
        }),
        async (_fake, env) => {
          const run = await runShim(['verify', '--policy', 'vendor-a', IMAGE], env);
          assert.equal(run.code, 1);
          assert.match(run.stderr, /\[APPLIANCE_RESPONSE_INVALID\]/);
        },
      );
    });
  });

  describe('when the appliance is down', () => {
    it('exits 1 with a message', async () => {
      const fake = await startFakeAppliance(allowAll);
      const url = fake.url;
      await fake.close();
      const run = await runShim(['verify', '--policy', 'vendor-a', IMAGE], {
        COUNTERSIGN_URL: url,
        COUNTERSIGN_TOKEN_FILE: tokenFile,
      });
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        /\[APPLIANCE_UNREACHABLE\]: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED; treating as denied/,
      );
    });
  });

  describe('when the appliance never answers', () => {
    it('exits 1 after COUNTERSIGN_TIMEOUT, long before the fake would answer', async () => {
      await withAppliance(
        () => undefined,
        async (fake, env) => {
          const run = await runShim(
            ['verify', IMAGE, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER],
            { ...env, COUNTERSIGN_TIMEOUT: '300ms' },
          );
          assert.equal(run.code, 1);
          assert.match(
            run.stderr,
            /\[APPLIANCE_TIMEOUT\]: no answer from http:\/\/127\.0\.0\.1:\d+ within 300 ms/,
          );
          assert.equal(fake.requests.length, 1);
          assert.ok(run.elapsedMs < 20_000, `took ${run.elapsedMs} ms`);
        },
      );
    });

    it('honours a shorter cosign --timeout', async () => {
      await withAppliance(
        () => undefined,
        async (_fake, env) => {
          const run = await runShim(['verify', '--timeout=250ms', '--policy', 'vendor-a', IMAGE], {
            ...env,
            COUNTERSIGN_TIMEOUT: '30',
          });
          assert.equal(run.code, 1);
          assert.match(run.stderr, /within 250 ms/);
        },
      );
    });
  });

  describe('when there is nothing to verify against', () => {
    it('exits 2 without asking the appliance: no trust flags and no policy', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const run = await runShim(['verify', IMAGE], env);
        assert.equal(run.code, 2);
        assert.match(run.stderr, /no --key, --certificate-identity or countersign policy given.*\[USAGE\]/);
        assert.equal(fake.requests.length, 0);
      });
    });
  });

  describe('when the trust flags cannot be served', () => {
    for (const [what, args, pattern] of [
      [
        'an unreadable key file',
        ['--key', '/nonexistent/k.pub'],
        /cannot read the public key file \[KEY_INVALID\]/,
      ],
      ['a file that is no public key', ['--key', '@TOKEN@'], /\[KEY_INVALID\]/],
      [
        'a KMS key',
        ['--key', 'awskms:///alias/vendor'],
        /KMS and hardware keys are not served here.*\[USAGE\]/,
      ],
      [
        'an issuer without an identity',
        ['--certificate-oidc-issuer', ISSUER],
        /needs --certificate-identity.*\[USAGE\]/,
      ],
      [
        'an identity and its regexp',
        [
          '--certificate-identity',
          IDENTITY,
          '--certificate-identity-regexp',
          '.*',
          '--certificate-oidc-issuer',
          ISSUER,
        ],
        /are exclusive \[USAGE\]/,
      ],
    ] as const) {
      it(`refuses ${what} with exit 2 and asks nothing`, async () => {
        await withAppliance(allowAll, async (fake, env) => {
          const run = await runShim(
            ['verify', ...args.map((a) => (a === '@TOKEN@' ? tokenFile : a)), IMAGE],
            env,
          );
          assert.equal(run.code, 2, run.stderr);
          assert.match(run.stderr, pattern);
          assert.equal(fake.requests.length, 0);
        });
      });
    }
  });

  describe('when the token comes from the environment', () => {
    it('sends COUNTERSIGN_TOKEN', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const { COUNTERSIGN_TOKEN_FILE: _f, ...rest } = env;
        const run = await runShim(['verify', '--policy', 'p', IMAGE], {
          ...rest,
          COUNTERSIGN_TOKEN: 'tok-env',
        });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(fake.requests[0]?.authorization, 'Bearer tok-env');
      });
    });

    it('refuses both COUNTERSIGN_TOKEN and COUNTERSIGN_TOKEN_FILE', async () => {
      await withAppliance(allowAll, async (fake, env) => {
        const run = await runShim(['verify', '--policy', 'p', IMAGE], {
          ...env,
          COUNTERSIGN_TOKEN: 'tok-env',
        });
        assert.equal(run.code, 2);
        assert.match(run.stderr, /not both \[CONFIG_INVALID\]/);
        assert.equal(fake.requests.length, 0);
      });
    });

    it('refuses to run without any token', async () => {
      const run = await runShim(['verify', '--policy', 'p', IMAGE], {
        COUNTERSIGN_URL: 'http://127.0.0.1:9',
      });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /no verifier token.*\[CONFIG_INVALID\]/);
    });
  });

  describe('when asked for something it cannot serve', () => {
    for (const args of [
      ['sign', '--key', 'k', IMAGE],
      ['attest', IMAGE],
      ['verify-attestation', IMAGE],
      ['verify', '--policy', 'p', '--annotations', 'a=b', IMAGE],
      ['verify', '--policy', 'p', '--certificate-chain', 'chain.pem', IMAGE],
      ['verify', '--policy', 'p', '--no-such-flag', IMAGE],
      ['verify', '--policy', 'p', '-o', 'text', IMAGE],
      ['verify', '--policy', 'p'],
    ]) {
      it(`refuses cosign ${args.join(' ')} with exit 2 and asks nothing`, async () => {
        await withAppliance(allowAll, async (fake, env) => {
          const run = await runShim(args, env);
          assert.equal(run.code, 2);
          assert.match(run.stderr, /^Error: countersign-cosign: .*\[USAGE\]/);
          assert.equal(run.stdout, '');
          assert.equal(fake.requests.length, 0);
        });
      });
    }
  });

  describe('when given flags that only relax cosign', () => {
    it('verifies anyway and says they were ignored', async () => {
      await withAppliance(allowAll, async (_fake, env) => {
        const run = await runShim(['verify', '--insecure-ignore-tlog=true', '--policy', 'p', IMAGE], env);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /ignoring --insecure-ignore-tlog/);
      });
    });
  });

  describe('cosign version', () => {
    it('answers with the shim version', async () => {
      const run = await runShim(['version'], {});
      assert.equal(run.code, 0);
      assert.match(run.stdout, /^GitVersion: +countersign-cosign-shim \d+\.\d+\.\d+/m);
    });

    it('answers --json', async () => {
      const run = await runShim(['version', '--json'], {});
      assert.equal(run.code, 0);
      assert.match(
        (JSON.parse(run.stdout) as { gitVersion: string }).gitVersion,
        /^countersign-cosign-shim /,
      );
    });
  });
});
