/**
 * Registry access as hospitals run it: TLS with a private CA and basic auth. One registry with
 * both, images signed by real cosign through it, verified through the countersign CLI with
 * `--ca-file` and `--registry-config`, and denied with a source code when either is missing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pushImage } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';
import type { TestRegistry } from '../support/registry.ts';
import { cosignGenerateKeyPair, cosignSign, imageRef } from '../support/signing.ts';
import type { KeyPair } from '../support/signing.ts';
import { assertAllowed, assertDenied, verifyCli } from './run-cli.ts';

const PASSWORD = 'access-pass';
const REPO = 'secure/algo';

let reg: TestRegistry;
let workDir = '';
let key: KeyPair;
let digest = '';
let caFile = '';
let dockerConfig = '';

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'countersign-access-'));
  [reg, key] = await Promise.all([
    startRegistry({ auth: 'basic', tls: true }),
    cosignGenerateKeyPair(path.join(workDir, 'keys'), PASSWORD),
  ]);
  assert.ok(reg.caFile !== undefined && reg.dockerConfigFile !== undefined);
  caFile = reg.caFile;
  dockerConfig = reg.dockerConfigFile;
  digest = (await pushImage(reg, REPO, 'v1')).digest;
  await cosignSign(reg, imageRef(reg, REPO, digest), key.privateKeyPath, PASSWORD);
});

after(async () => {
  await reg.stop();
  await rm(workDir, { recursive: true, force: true });
});

const image = () => `${reg.host}/${REPO}:v1`;

describe('countersign verify against a TLS registry with basic auth', () => {
  describe('when given the CA and the credentials', () => {
    it('allows the cosign-signed image', async () => {
      const r = await verifyCli(
        workDir,
        image(),
        '--key',
        key.publicKeyPath,
        '--ca-file',
        caFile,
        '--registry-config',
        dockerConfig,
      );
      assertAllowed(r, digest);
    });
  });

  describe('when the docker config is given relative to the working directory', () => {
    it('reads it there and allows the image', async () => {
      await copyFile(dockerConfig, path.join(workDir, 'config.json'));
      const r = await verifyCli(
        workDir,
        image(),
        '--key',
        key.publicKeyPath,
        '--ca-file',
        caFile,
        '--registry-config',
        'config.json',
      );
      assertAllowed(r, digest);
    });
  });

  describe('when the credentials are missing', () => {
    it('denies with exit 3 and REGISTRY_AUTH_FAILED', async () => {
      const r = await verifyCli(workDir, image(), '--key', key.publicKeyPath, '--ca-file', caFile);
      assertDenied(r, 3, 'REGISTRY_AUTH_FAILED');
      assert.equal(r.outcome?.digest, undefined);
    });
  });

  describe('when the credentials are wrong', () => {
    it('denies with exit 3 and REGISTRY_AUTH_FAILED', async () => {
      const wrong = path.join(workDir, 'wrong-config.json');
      const auth = Buffer.from('tester:not-the-password').toString('base64');
      await writeFile(wrong, JSON.stringify({ auths: { [reg.host]: { auth } } }), { mode: 0o600 });
      const r = await verifyCli(
        workDir,
        image(),
        '--key',
        key.publicKeyPath,
        '--ca-file',
        caFile,
        '--registry-config',
        wrong,
      );
      assertDenied(r, 3, 'REGISTRY_AUTH_FAILED');
    });
  });

  describe('when the CA is not given', () => {
    it('denies with exit 3 and REGISTRY_TLS_ERROR', async () => {
      const r = await verifyCli(
        workDir,
        image(),
        '--key',
        key.publicKeyPath,
        '--registry-config',
        dockerConfig,
      );
      assertDenied(r, 3, 'REGISTRY_TLS_ERROR');
    });
  });

  describe('when the registry is named insecure although it speaks TLS', () => {
    it('denies with exit 3, never falling back to another scheme', async () => {
      const r = await verifyCli(
        workDir,
        image(),
        '--key',
        key.publicKeyPath,
        '--registry-config',
        dockerConfig,
        '--insecure-registry',
        reg.host,
      );
      // Go's TLS server answers plain HTTP with 400: a registry error, not a downgrade.
      assertDenied(r, 3, 'REGISTRY_ERROR');
    });
  });
});
