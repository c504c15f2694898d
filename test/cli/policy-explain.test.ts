/**
 * `countersign policy explain IMAGE --policies DIR [--config DIR]`: which policies an image falls
 * under and what each needs, from the configuration files alone. The reference is parsed, never
 * looked up: an unreachable registry changes nothing, and the real CLI under the network guard
 * makes no connection and no DNS lookup.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { main } from '../../src/cli/main.ts';
import type { CliIO } from '../../src/cli/io.ts';
import type { Explanation } from '../../src/cli/policy.ts';
import { createTrustedRoot } from '../../src/trust/index.ts';
import { projectRoot } from '../support/tools.ts';
import { VirtualSigstore, derOf, pem } from '../support/virtual-sigstore.ts';

const UNREACHABLE = '10.255.255.1:5000';

const TWO_OF_THREE = `name: two-of-three
images: ["registry.example/vendor/**", "${UNREACHABLE}/vendor/**"]
signers:
  - name: alice
    key: alice.pub
    annotations: { release: approved }
  - { name: bob, key: bob.pub }
  - name: hospital-qa
    keyless:
      trustRoot: sigstore
      identity: qa@hospital.example
      issuerRegexp: 'https://sso\\.hospital\\.example/realms/.*'
threshold: 2
required: [alice]
`;

const CORPORATE = `name: corporate
images: ["registry.example/**"]
mode: warn
signers:
  - name: security
    certificate: { trustRoot: corp, identityRegexp: '.*@security\\.hospital\\.example' }
`;

const FALLBACK = `name: fallback
default: true
signers:
  - { name: bob, key: bob.pub, tlog: optional }
`;

interface Run {
  readonly exit: number;
  readonly stdout: string;
  readonly stderr: string;
}

let root = '';
let config = '';
const fingerprints = new Map<string, string>();
const hashes = new Map<string, string>();

async function explain(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    cwd: root,
    version: '0.0.0-test',
  };
  const exit = await main(['policy', 'explain', ...args], io);
  assert.doesNotMatch(stdout + stderr, /\n\s+at .+:\d+:\d+/, 'output contains a stack trace');
  return { exit, stdout, stderr };
}

async function explainJson(...args: string[]): Promise<{ exit: number; result: Explanation }> {
  const r = await explain(...args, '--output', 'json');
  assert.equal(r.stderr, '');
  return { exit: r.exit, result: JSON.parse(r.stdout) as Explanation };
}

async function writePolicy(dir: string, file: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, file), text);
  hashes.set(file, `sha256:${createHash('sha256').update(text).digest('hex')}`);
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'countersign-explain-'));
  config = path.join(root, 'config');
  await mkdir(path.join(config, 'keys'), { recursive: true });
  for (const name of ['alice', 'bob']) {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(
      path.join(config, 'keys', `${name}.pub`),
      publicKey.export({ type: 'spki', format: 'pem' }),
    );
    const der = publicKey.export({ type: 'spki', format: 'der' });
    fingerprints.set(name, `sha256:${createHash('sha256').update(der).digest('hex')}`);
  }
  const sigstore = await VirtualSigstore.create();
  await mkdir(path.join(config, 'trust-root', 'sigstore'), { recursive: true });
  await writeFile(
    path.join(config, 'trust-root', 'sigstore', 'trusted_root.json'),
    JSON.stringify(sigstore.trustedRoot()),
  );
  const chain = [sigstore.ca.intermediate, sigstore.ca.root].map((c) => pem('CERTIFICATE', derOf(c)));
  await mkdir(path.join(config, 'trust-root', 'corp'), { recursive: true });
  await writeFile(
    path.join(config, 'trust-root', 'corp', 'trusted_root.json'),
    JSON.stringify(createTrustedRoot({ caChainPem: chain.join('') })),
  );
  await writePolicy(path.join(config, 'policies'), 'two-of-three.yaml', TWO_OF_THREE);
  await writePolicy(path.join(config, 'policies'), 'corporate.yaml', CORPORATE);
  await writePolicy(path.join(root, 'with-default'), 'two-of-three.yaml', TWO_OF_THREE);
  await writePolicy(path.join(root, 'with-default'), 'fallback.yaml', FALLBACK);
  await writePolicy(
    path.join(root, 'broken'),
    'bad.yaml',
    'name: bad\nimages: ["registry.example/**"]\nsigners: []\n',
  );
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('countersign policy explain', () => {
  describe('when policies match the image', () => {
    it('lists every matching policy with its hash, mode, threshold, required signers and each signer’s needs', async () => {
      const r = await explain('registry.example/vendor/algo:1.4', '--policies', 'config/policies');
      assert.equal(r.exit, 0, r.stderr);
      const lines = r.stdout.split('\n');
      const expected = [
        'image registry.example/vendor/algo',
        '  2 policies match registry.example/vendor/algo; every one must pass',
        'policy corporate (config/policies/corporate.yaml)',
        `  content hash: ${hashes.get('corporate.yaml') ?? ''}`,
        '  mode: warn (a failure is reported, the image is still allowed)',
        '  threshold: 1 of 1 signers (distinct signing identities)',
        '  signer security: certificate',
        '    identity ~ ^(?:.*@security\\.hospital\\.example)$',
        'policy two-of-three (config/policies/two-of-three.yaml)',
        `  content hash: ${hashes.get('two-of-three.yaml') ?? ''}`,
        '  mode: enforce',
        '  threshold: 2 of 3 signers (distinct signing identities)',
        '  required: alice',
        '  signer alice (required): key',
        `    key keys/alice.pub ${fingerprints.get('alice') ?? ''} (ecdsa-p256)`,
        '    annotations release=approved',
        `    key keys/bob.pub ${fingerprints.get('bob') ?? ''} (ecdsa-p256)`,
        '  signer hospital-qa: keyless',
        '    identity = qa@hospital.example',
        '    issuer ~ ^(?:https://sso\\.hospital\\.example/realms/.*)$',
        '    tlog required',
      ];
      for (const line of expected)
        assert.ok(lines.includes(line), `missing line ${JSON.stringify(line)} in\n${r.stdout}`);
      assert.match(r.stdout, /\n {4}trust root corp sha256:[0-9a-f]{64} \(CA only\)\n/);
      assert.match(r.stdout, /\n {4}trust root sigstore sha256:[0-9a-f]{64} \(with transparency log\)\n/);
      // Policies come in name order, as verify evaluates them.
      assert.ok(r.stdout.indexOf('policy corporate') < r.stdout.indexOf('policy two-of-three'));
    });

    it('gives the same facts as JSON', async () => {
      const { exit, result } = await explainJson(
        'registry.example/vendor/algo@sha256:' + 'a'.repeat(64),
        '--policies',
        'config/policies',
      );
      assert.equal(exit, 0);
      assert.equal(result.name, 'registry.example/vendor/algo');
      assert.equal(result.selection, 'policies');
      assert.equal(result.code, null);
      assert.deepEqual(
        result.policies.map((p) => p.name),
        ['corporate', 'two-of-three'],
      );
      const two = result.policies[1];
      assert.ok(two);
      assert.equal(two.contentHash, hashes.get('two-of-three.yaml'));
      assert.equal(two.threshold, 2);
      assert.equal(two.signerCount, 3);
      assert.deepEqual(two.required, ['alice']);
      assert.deepEqual(two.signers[0], {
        name: 'alice',
        kind: 'key',
        required: true,
        tlog: 'optional',
        annotations: { release: 'approved' },
        key: { file: 'keys/alice.pub', fingerprint: fingerprints.get('alice'), algorithm: 'ecdsa-p256' },
      });
      const qa = two.signers[2];
      assert.ok(qa?.trustRoot);
      assert.equal(qa.trustRoot.name, 'sigstore');
      assert.equal(qa.trustRoot.hasTlogs, true);
      assert.equal(qa.identity, '= qa@hospital.example');
      assert.deepEqual(result.notMatching, []);
    });

    it('lists only the policies whose patterns match, naming the others', async () => {
      const { exit, result } = await explainJson(
        'registry.example/tools/scanner:2',
        '--policies',
        'config/policies',
      );
      assert.equal(exit, 0);
      assert.deepEqual(
        result.policies.map((p) => p.name),
        ['corporate'],
      );
      assert.deepEqual(result.notMatching, ['two-of-three']);
    });
  });

  describe('when no pattern matches', () => {
    it('says the default policy applies, and exits 0', async () => {
      const r = await explain('other.example/app:1', '--policies', 'with-default', '--config', 'config');
      assert.equal(r.exit, 0, r.stderr);
      assert.match(
        r.stdout,
        /^ {2}no policy matches other\.example\/app: the default policy fallback applies$/m,
      );
      assert.match(r.stdout, /^policy fallback \(with-default\/fallback\.yaml\)$/m);
      assert.match(r.stdout, /^ {2}images: \(default policy\)$/m);
      const { result } = await explainJson(
        'other.example/app:1',
        '--policies',
        'with-default',
        '--config',
        'config',
      );
      assert.equal(result.selection, 'default');
      assert.deepEqual(result.notMatching, ['two-of-three']);
    });

    it('says verify would deny with NO_MATCHING_POLICY when there is no default, and exits 1', async () => {
      const r = await explain('other.example/app:1', '--policies', 'config/policies');
      assert.equal(r.exit, 1);
      assert.match(
        r.stdout,
        /no policy matches other\.example\/app and there is no default policy: verify would deny it \[NO_MATCHING_POLICY\]/,
      );
      const { exit, result } = await explainJson('other.example/app:1', '--policies', 'config/policies');
      assert.equal(exit, 1);
      assert.equal(result.code, 'NO_MATCHING_POLICY');
      assert.deepEqual(result.policies, []);
    });

    it('matches the normalised name: a Docker Hub short name is index.docker.io/library/...', async () => {
      const { result } = await explainJson('alpine', '--policies', 'config/policies');
      assert.equal(result.name, 'index.docker.io/library/alpine');
    });
  });

  describe('when the image’s registry is unreachable', () => {
    it('answers at once: nothing is contacted', async () => {
      const start = performance.now();
      const r = await explain(`${UNREACHABLE}/vendor/algo:1`, '--policies', 'config/policies');
      assert.ok(performance.now() - start < 1000, 'explain took a second or more');
      assert.equal(r.exit, 0, r.stderr);
      assert.match(r.stdout, /^policy two-of-three /m);
    });

    it('makes no connection and no DNS lookup as a real process under the network guard', async () => {
      const log = path.join(root, 'network.log');
      await writeFile(log, '');
      const r = await execa(
        process.execPath,
        [
          '--import',
          path.join(projectRoot, 'test/support/network-guard.ts'),
          path.join(projectRoot, 'src/cli/main.ts'),
          'policy',
          'explain',
          `${UNREACHABLE}/vendor/algo:1`,
          '--policies',
          path.join(config, 'policies'),
        ],
        { reject: false, env: { NETWORK_GUARD_LOG: log }, timeout: 30_000 },
      );
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /policy two-of-three/);
      assert.equal(await readFile(log, 'utf8'), '');
    });
  });

  describe('when the command is misused or the configuration is broken', () => {
    it('exits 2 without --policies', async () => {
      const r = await explain('registry.example/vendor/algo:1');
      assert.equal(r.exit, 2);
      assert.match(r.stderr, /--policies DIR is required \[USAGE\]/);
    });

    it('exits 2 with INVALID_REFERENCE for a malformed image', async () => {
      const r = await explain('Registry.Example/UPPER case', '--policies', 'config/policies');
      assert.equal(r.exit, 2);
      assert.match(r.stderr, /\[INVALID_REFERENCE\]/);
    });

    it('exits 2 with POLICY_INVALID naming the file and line of a broken policy', async () => {
      const r = await explain('registry.example/vendor/algo:1', '--policies', 'broken', '--config', 'config');
      assert.equal(r.exit, 2);
      assert.match(r.stderr, /broken\/bad\.yaml:3: signers: at least one signer is needed/);
      assert.match(r.stderr, /\[POLICY_INVALID\]/);
    });

    it('exits 2 with CONFIG_INVALID for a missing policy directory', async () => {
      const r = await explain(
        'registry.example/vendor/algo:1',
        '--policies',
        'nowhere',
        '--config',
        'config',
      );
      assert.equal(r.exit, 2);
      assert.match(r.stderr, /\[CONFIG_INVALID\]/);
    });
  });
});
