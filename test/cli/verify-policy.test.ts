/**
 * `countersign verify IMAGE --policy NAME|FILE [--config DIR]` and `--policies DIR` on OCI layouts
 * made in the test, signed in-process the way `cosign sign --key` signs (legacy format: a
 * `sha256-<hex>.sig` manifest whose layers are simple-signing payloads). Policies and ad-hoc trust
 * flags are exclusive: mixing them is a usage error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/io.ts';
import type { VerificationOutcome } from '../../src/decision/verify-image.ts';
import { makeKey, payloadBytes, signWith } from '../verify/fixtures.ts';
import type { TestKey } from '../verify/fixtures.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

const enc = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const TWO_OF_THREE = `name: two-of-three
images: ["registry.example/vendor/**"]
signers:
  - { name: alice, key: alice.pub }
  - { name: bob, key: bob.pub }
  - { name: carol, key: carol.pub }
threshold: 2
`;

const ALICE_REQUIRED = `name: alice-required
images: ["registry.example/vendor/**"]
signers:
  - name: alice
    key: alice.pub
    annotations: { release: approved }
  - { name: bob, key: bob.pub }
  - { name: carol, key: carol.pub }
threshold: 2
required: [alice]
`;

let workDir = '';
let configDir = '';
const keys = {} as Record<'alice' | 'bob' | 'carol' | 'stranger', TestKey>;

interface Run {
  readonly exit: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: workDir,
    version: '0.0.0-test',
  };
  const exit = await main(['verify', ...args], io);
  assert.doesNotMatch(stdout + stderr, /\n\s+at .+:\d+:\d+/, 'output contains a stack trace');
  return { exit, stdout, stderr };
}

async function json(...args: string[]): Promise<{ exit: number; outcome: VerificationOutcome }> {
  const r = await cli(...args, '--output', 'json');
  assert.ok(r.stdout !== '', r.stderr);
  return { exit: r.exit, outcome: JSON.parse(r.stdout) as VerificationOutcome };
}

/**
 * An OCI layout holding one random image tagged `v1` and, when given, its cosign signature
 * manifest tagged `sha256-<hex>.sig` with one layer per signature. Returns `oci:DIR:v1` and the digest.
 */
async function signedLayout(
  name: string,
  signatures: readonly { key: TestKey; optional?: Record<string, string> }[],
): Promise<{ ref: string; digest: string }> {
  const dir = path.join(workDir, name);
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array): Promise<string> => {
    const digest = sha256(bytes);
    await writeFile(path.join(blobs, digest.slice('sha256:'.length)), bytes);
    return digest;
  };
  const config = enc('{}');
  const configDescriptor = { mediaType: OCI_CONFIG, digest: await put(config), size: config.length };
  const layer = randomBytes(64);
  const manifest = enc({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: configDescriptor,
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: await put(layer),
        size: layer.length,
      },
    ],
  });
  const digest = await put(manifest);
  const index = [
    {
      mediaType: OCI_MANIFEST,
      digest,
      size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': 'v1' },
    },
  ];
  if (signatures.length > 0) {
    const layers = [];
    for (const s of signatures) {
      const payload = payloadBytes(digest, s.optional ?? null);
      layers.push({
        mediaType: SIMPLE_SIGNING,
        digest: await put(payload),
        size: payload.length,
        annotations: {
          'dev.cosignproject.cosign/signature': Buffer.from(signWith(s.key, payload, 'sha256')).toString(
            'base64',
          ),
        },
      });
    }
    const sigManifest = enc({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers });
    index.push({
      mediaType: OCI_MANIFEST,
      digest: await put(sigManifest),
      size: sigManifest.length,
      annotations: { 'org.opencontainers.image.ref.name': `${digest.replace(':', '-')}.sig` },
    });
  }
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: index }),
  );
  return { ref: `oci:${dir}:v1`, digest };
}

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'countersign-verify-policy-'));
  configDir = path.join(workDir, 'config');
  await mkdir(path.join(configDir, 'keys'), { recursive: true });
  await mkdir(path.join(configDir, 'policies'));
  for (const name of ['alice', 'bob', 'carol', 'stranger'] as const) {
    keys[name] = makeKey('p256');
    if (name !== 'stranger')
      await writeFile(path.join(configDir, 'keys', `${name}.pub`), keys[name].publicPem);
  }
  await writeFile(path.join(configDir, 'policies', 'two-of-three.yaml'), TWO_OF_THREE);
  await writeFile(path.join(workDir, 'alice-required.yaml'), ALICE_REQUIRED);
  await writeFile(
    path.join(workDir, 'broken.yaml'),
    'name: broken\nimages: ["**"]\nsigners:\n  - { name: a, key: missing.pub }\n',
  );
  await mkdir(path.join(workDir, 'layouts-policies'));
  await writeFile(
    path.join(workDir, 'layouts-policies', 'layouts.yaml'),
    `name: layouts\nimages: ["oci:${workDir}/**"]\nsigners:\n  - { name: carol, key: carol.pub }\n`,
  );
  await mkdir(path.join(workDir, 'elsewhere-policies'));
  await writeFile(
    path.join(workDir, 'elsewhere-policies', 'elsewhere.yaml'),
    'name: elsewhere\nimages: ["registry.example/**"]\nsigners:\n  - { name: carol, key: carol.pub }\n',
  );
});

after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('countersign verify with policies', () => {
  describe('when --policy names a policy of the configuration', () => {
    it('allows a layout signed by alice and bob, whatever the policy’s image patterns say', async () => {
      const { ref, digest } = await signedLayout('ab', [{ key: keys.alice }, { key: keys.bob }]);
      const { exit, outcome } = await json(ref, '--policy', 'two-of-three', '--config', 'config');
      assert.equal(exit, 0, outcome.explanation);
      assert.equal(outcome.allowed, true);
      assert.equal(outcome.digest, digest);
      assert.equal(outcome.explanation, 'allowed: 2 of 3 signers, 2 needed (alice, bob)');
      const policy = outcome.decision?.policies[0];
      assert.ok(policy);
      assert.equal(policy.name, 'two-of-three');
      assert.equal(policy.contentHash, sha256(enc(TWO_OF_THREE)));
    });

    it('denies a layout signed by alice alone with THRESHOLD_NOT_MET (exit 1)', async () => {
      const { ref } = await signedLayout('a', [{ key: keys.alice }]);
      const { exit, outcome } = await json(ref, '--policy', 'two-of-three', '--config', 'config');
      assert.equal(exit, 1);
      assert.equal(outcome.code, 'THRESHOLD_NOT_MET');
      assert.equal(
        outcome.explanation,
        'denied: 1 of 2 signers needed (satisfied: alice; not satisfied: bob, carol)',
      );
    });

    it('does not count alice twice (one key, two signatures)', async () => {
      const { ref } = await signedLayout('aa', [
        { key: keys.alice },
        { key: keys.alice, optional: { n: '2' } },
      ]);
      const { exit, outcome } = await json(ref, '--policy', 'two-of-three', '--config', 'config');
      assert.equal(exit, 1);
      assert.equal(outcome.code, 'THRESHOLD_NOT_MET');
      assert.equal(outcome.decision?.policies[0]?.satisfied, 1);
    });

    it('denies a layout signed by keys the policy does not know with SIGNATURE_INVALID', async () => {
      const { ref } = await signedLayout('stranger', [{ key: keys.stranger }]);
      const { exit, outcome } = await json(ref, '--policy', 'two-of-three', '--config', 'config');
      assert.equal(exit, 1);
      assert.equal(outcome.code, 'SIGNATURE_INVALID');
    });

    it('prints the policy, its hash and each signer in text output', async () => {
      const { ref } = await signedLayout('ab-text', [{ key: keys.alice }, { key: keys.bob }]);
      const r = await cli(ref, '--policy', 'two-of-three', '--config', 'config');
      assert.equal(r.exit, 0, r.stdout);
      assert.match(r.stdout, /^ALLOWED oci:/);
      assert.match(
        r.stdout,
        /policy two-of-three \(policies\/two-of-three\.yaml, sha256:[0-9a-f]{64}, enforce\): passed, 2 of 2 signers/,
      );
      assert.match(r.stdout, /ok {3}signer alice by sha256-[0-9a-f]{64}\.sig#\d \(key:[0-9a-f]{64}\)/);
      assert.match(r.stdout, /FAIL signer carol/);
    });
  });

  describe('when --policy is a file', () => {
    it('allows alice (with the annotation) and bob under required: [alice]', async () => {
      const { ref } = await signedLayout('req-ab', [
        { key: keys.alice, optional: { release: 'approved' } },
        { key: keys.bob },
      ]);
      const { exit, outcome } = await json(ref, '--policy', 'alice-required.yaml', '--config', 'config');
      assert.equal(exit, 0, outcome.explanation);
      assert.equal(outcome.decision?.policies[0]?.contentHash, sha256(enc(ALICE_REQUIRED)));
    });

    it('denies bob and carol with REQUIRED_SIGNER_MISSING', async () => {
      const { ref } = await signedLayout('req-bc', [{ key: keys.bob }, { key: keys.carol }]);
      const { exit, outcome } = await json(ref, '--policy', 'alice-required.yaml', '--config', 'config');
      assert.equal(exit, 1);
      assert.equal(outcome.code, 'REQUIRED_SIGNER_MISSING');
      assert.equal(outcome.explanation, 'denied: 0 of 1 required signers (missing: alice)');
    });

    it('denies alice without the required annotation (ANNOTATION_MISMATCH in her reasons)', async () => {
      const { ref } = await signedLayout('req-ab-noann', [{ key: keys.alice }, { key: keys.bob }]);
      const { exit, outcome } = await json(ref, '--policy', 'alice-required.yaml', '--config', 'config');
      assert.equal(exit, 1);
      assert.equal(outcome.code, 'REQUIRED_SIGNER_MISSING');
      const alice = outcome.decision?.policies[0]?.signers.find((s) => s.name === 'alice');
      assert.ok(
        alice?.reasons.some((r) => r.code === 'ANNOTATION_MISMATCH'),
        JSON.stringify(alice?.reasons),
      );
    });

    it('refuses a file naming an unknown key with POLICY_INVALID (exit 2)', async () => {
      const { ref } = await signedLayout('broken', [{ key: keys.alice }]);
      const r = await cli(ref, '--policy', 'broken.yaml', '--config', 'config');
      assert.equal(r.exit, 2);
      assert.match(r.stderr, /broken\.yaml:4: signers\[0\]\.key: unknown key "missing\.pub"/);
      assert.match(r.stderr, /\[POLICY_INVALID\]/);
    });
  });

  describe('when --policies selects by the layout’s name', () => {
    it('applies a policy whose pattern matches oci:DIR', async () => {
      const { ref } = await signedLayout('layout-carol', [{ key: keys.carol }]);
      const { exit, outcome } = await json(ref, '--policies', 'layouts-policies', '--config', 'config');
      assert.equal(exit, 0, outcome.explanation);
      assert.equal(outcome.decision?.policies[0]?.name, 'layouts');
    });

    it('denies with NO_MATCHING_POLICY when no pattern matches and there is no default', async () => {
      const { ref } = await signedLayout('layout-none', [{ key: keys.carol }]);
      const { exit, outcome } = await json(ref, '--policies', 'elsewhere-policies', '--config', 'config');
      assert.equal(exit, 1);
      assert.equal(outcome.code, 'NO_MATCHING_POLICY');
    });
  });

  describe('when policies and ad-hoc trust flags are mixed', () => {
    const cases: [string, string[]][] = [
      [
        '--policy with --key',
        ['--policy', 'two-of-three', '--config', 'config', '--key', 'config/keys/alice.pub'],
      ],
      [
        '--policies with --key',
        ['--policies', 'config/policies', '--config', 'config', '--key', 'config/keys/alice.pub'],
      ],
      [
        '--policy with a certificate identity',
        [
          '--policy',
          'two-of-three',
          '--config',
          'config',
          '--certificate-identity',
          'qa@h.example',
          '--ca-roots',
          'x.pem',
        ],
      ],
    ];
    for (const [what, args] of cases) {
      it(`refuses ${what} as a usage error (exit 2)`, async () => {
        const { ref } = await signedLayout(`mixed-${what.replace(/\W+/g, '-')}`, [{ key: keys.alice }]);
        const r = await cli(ref, ...args);
        assert.equal(r.exit, 2, r.stdout);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /\[USAGE\]/);
      });
    }
  });
});

describe('verify --policy with an unknown name', () => {
  it('is a usage error (exit 2) naming the policy, not an internal one', async () => {
    const config = await mkdtemp(path.join(tmpdir(), 'cs-empty-config-'));
    let err = '';
    const io: CliIO = {
      stdout: () => undefined,
      stderr: (t: string) => {
        err += t;
      },
      env: {},
      cwd: config,
      version: 'test',
    };
    const code = await main(
      ['verify', 'oci:/nonexistent:latest', '--policy', 'no-such-policy', '--config', config],
      io,
    );
    assert.equal(code, 2);
    assert.match(err, /no-such-policy.*\[USAGE\]/);
  });
});
