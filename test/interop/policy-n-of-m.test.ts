/**
 * N-of-M policies against real signatures: three keys (alice, bob, carol) made by real cosign 2.5
 * sign images pushed to a real distribution registry; the real CLI (a separate process) verifies
 * them under policy files from a configuration directory. Every pair passes a 2-of-3 policy, every
 * single signer fails it, and a required signer is enforced. Tools are required, never skipped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { VerificationOutcome } from '../../src/decision/verify-image.ts';
import { pushImage } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';
import type { TestRegistry } from '../support/registry.ts';
import { cosignGenerateKeyPair, cosignSign, imageRef } from '../support/signing.ts';
import type { KeyPair } from '../support/signing.ts';
import { projectRoot } from '../support/tools.ts';

const PASSWORD = 'n-of-m-pass';
const NAMES = ['alice', 'bob', 'carol'] as const;
type Name = (typeof NAMES)[number];

let reg: TestRegistry;
let workDir = '';
let configDir = '';
let twoOfThreeDir = '';
let requiredDir = '';
const keys = {} as Record<Name, KeyPair>;
/** Image tag (the signers' names joined by `-`) → pushed digest. */
const digests = new Map<string, string>();

const SIGNER_SETS: readonly (readonly Name[])[] = [
  ['alice', 'bob'],
  ['alice', 'carol'],
  ['bob', 'carol'],
  ['alice'],
  ['bob'],
  ['carol'],
];

interface CliRun {
  readonly exit: number;
  readonly outcome: VerificationOutcome;
  readonly stderr: string;
}

/** `countersign verify REF --policies DIR --config CFG --insecure-registry HOST -o json`, as a process. */
async function verify(tag: string, policies: string): Promise<CliRun> {
  const r = await execa(
    process.execPath,
    [
      path.join(projectRoot, 'src/cli/main.ts'),
      'verify',
      `${reg.host}/clinical/algo:${tag}`,
      '--policies',
      policies,
      '--config',
      configDir,
      '--insecure-registry',
      reg.host,
      '--output',
      'json',
    ],
    { reject: false, timeout: 60_000, env: { HOME: workDir } },
  );
  assert.ok(r.stdout !== '', `no output (exit ${String(r.exitCode)}): ${r.stderr}`);
  return { exit: r.exitCode ?? -1, outcome: JSON.parse(r.stdout) as VerificationOutcome, stderr: r.stderr };
}

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'countersign-n-of-m-'));
  const keyDir = path.join(workDir, 'cosign-keys');
  const generated = await Promise.all([
    startRegistry(),
    ...NAMES.map((n) => cosignGenerateKeyPair(keyDir, PASSWORD, n)),
  ]);
  reg = generated[0];
  NAMES.forEach((n, i) => {
    const pair = generated[i + 1];
    assert.ok(pair !== undefined && 'publicKeyPath' in pair);
    keys[n] = pair;
  });

  configDir = path.join(workDir, 'config');
  await mkdir(path.join(configDir, 'keys'), { recursive: true });
  for (const n of NAMES) await copyFile(keys[n].publicKeyPath, path.join(configDir, 'keys', `${n}.pub`));
  const signers = NAMES.map((n) => `  - { name: ${n}, key: ${n}.pub }`).join('\n');
  twoOfThreeDir = path.join(configDir, 'policies');
  await mkdir(twoOfThreeDir);
  await writeFile(
    path.join(twoOfThreeDir, 'two-of-three.yaml'),
    `name: two-of-three\nimages: ["${reg.host}/clinical/**"]\nsigners:\n${signers}\nthreshold: 2\n`,
  );
  requiredDir = path.join(workDir, 'policies-required');
  await mkdir(requiredDir);
  await writeFile(
    path.join(requiredDir, 'alice-required.yaml'),
    `name: alice-required\nimages: ["${reg.host}/clinical/**"]\nsigners:\n${signers}\nthreshold: 2\nrequired: [alice]\n`,
  );

  // One image per signer set, signed by exactly that set; images in parallel, signers in turn
  // (two cosign runs on one image would race on its .sig tag).
  await Promise.all(
    SIGNER_SETS.map(async (set) => {
      const tag = set.join('-');
      const image = await pushImage(reg, 'clinical/algo', tag);
      for (const n of set) {
        await cosignSign(reg, imageRef(reg, 'clinical/algo', image.digest), keys[n].privateKeyPath, PASSWORD);
      }
      digests.set(tag, image.digest);
    }),
  );
});

after(async () => {
  await reg.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('countersign verify --policies with real cosign signatures', () => {
  describe('when a 2-of-3 policy meets images signed by two of its signers', () => {
    for (const pair of SIGNER_SETS.filter((s) => s.length === 2)) {
      it(`allows the image signed by ${pair.join(' + ')} and pins its digest`, async () => {
        const tag = pair.join('-');
        const { exit, outcome } = await verify(tag, twoOfThreeDir);
        assert.equal(exit, 0, outcome.explanation);
        assert.equal(outcome.allowed, true);
        assert.equal(outcome.code, null);
        assert.equal(outcome.digest, digests.get(tag));
        assert.equal(outcome.pinned, `${reg.host}/clinical/algo@${digests.get(tag) ?? ''}`);
        assert.equal(outcome.explanation, `allowed: 2 of 3 signers, 2 needed (${pair.join(', ')})`);
        const policy = outcome.decision?.policies[0];
        assert.ok(policy);
        assert.equal(policy.name, 'two-of-three');
        assert.match(policy.contentHash, /^sha256:[0-9a-f]{64}$/);
        assert.deepEqual(
          policy.signers.filter((s) => s.satisfied).map((s) => s.name),
          [...pair],
        );
        assert.equal(outcome.signatures.length, 2);
      });
    }
  });

  describe('when a 2-of-3 policy meets images signed by one signer', () => {
    for (const [single] of SIGNER_SETS.filter((s) => s.length === 1)) {
      it(`denies the image signed by ${single ?? ''} alone with THRESHOLD_NOT_MET (exit 1)`, async () => {
        const { exit, outcome } = await verify(single ?? '', twoOfThreeDir);
        assert.equal(exit, 1);
        assert.equal(outcome.allowed, false);
        assert.equal(outcome.code, 'THRESHOLD_NOT_MET', outcome.explanation);
        const others = NAMES.filter((n) => n !== single);
        assert.equal(
          outcome.explanation,
          `denied: 1 of 2 signers needed (satisfied: ${single ?? ''}; not satisfied: ${others.join(', ')})`,
        );
      });
    }
  });

  describe('when the policy requires alice', () => {
    it('allows alice + bob', async () => {
      const { exit, outcome } = await verify('alice-bob', requiredDir);
      assert.equal(exit, 0, outcome.explanation);
      assert.equal(outcome.decision?.policies[0]?.name, 'alice-required');
    });

    it('denies bob + carol with REQUIRED_SIGNER_MISSING although two signed (exit 1)', async () => {
      const { exit, outcome } = await verify('bob-carol', requiredDir);
      assert.equal(exit, 1);
      assert.equal(outcome.allowed, false);
      assert.equal(outcome.code, 'REQUIRED_SIGNER_MISSING', outcome.explanation);
      assert.equal(outcome.explanation, 'denied: 0 of 1 required signers (missing: alice)');
      assert.equal(outcome.decision?.policies[0]?.satisfied, 2);
    });
  });
});
