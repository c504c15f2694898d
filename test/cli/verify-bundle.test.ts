import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIO } from '../../src/cli/io.ts';
import { run } from '../../src/cli/verify-bundle.ts';
import { VirtualSigstore, generateKeyPair, pem } from '../support/virtual-sigstore.ts';

interface Captured {
  io: CliIO;
  out: string[];
  err: string[];
}

function captureIO(cwd: string): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {}, cwd, version: 'test' },
    out,
    err,
  };
}

describe('countersign verify-bundle', () => {
  let dir: string;
  const artifact = Buffer.from('series-042 algorithm output\n');
  const digestArg = `sha256:${createHash('sha256').update(artifact).digest('hex')}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-verify-bundle-'));
    const sigstore = await VirtualSigstore.create();
    const leaf = await sigstore.issueLeaf({ email: 'qa@hospital.example' });
    const keys = await generateKeyPair();
    writeFileSync(join(dir, 'artifact.txt'), artifact);
    writeFileSync(join(dir, 'trusted_root.json'), JSON.stringify(sigstore.trustedRoot()));
    const broken = sigstore.trustedRoot() as { tlogs: { publicKey: { validFor: Record<string, string> } }[] };
    delete broken.tlogs[0]?.publicKey.validFor['start'];
    writeFileSync(join(dir, 'broken_root.json'), JSON.stringify(broken));
    writeFileSync(join(dir, 'cert.bundle.json'), JSON.stringify(sigstore.bundleForArtifact(leaf, artifact)));
    writeFileSync(join(dir, 'key.bundle.json'), JSON.stringify(sigstore.bundleForKey(keys, artifact)));
    writeFileSync(join(dir, 'key.pub'), pem('PUBLIC KEY', keys.spki));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const certArgs = (identity: string, target: string, root = 'trusted_root.json'): string[] => [
    '--bundle',
    'cert.bundle.json',
    '--certificate-identity',
    identity,
    '--certificate-oidc-issuer',
    'https://sso.hospital.example',
    '--trusted-root',
    root,
    target,
  ];

  describe('when the bundle matches the identity', () => {
    it('exits 0 for the artifact path and for its sha256 digest', async () => {
      for (const target of ['artifact.txt', digestArg]) {
        const c = captureIO(dir);
        assert.equal(await run(certArgs('qa@hospital.example', target), c.io), 0, c.err.join(''));
        assert.match(c.out.join(''), /verified/);
      }
    });
  });

  describe('when the identity differs', () => {
    it('exits 1 and names the code on stderr', async () => {
      const c = captureIO(dir);
      assert.equal(await run(certArgs('other@hospital.example', 'artifact.txt'), c.io), 1);
      assert.match(c.err.join(''), /\[IDENTITY_MISMATCH\]\n$/);
    });
  });

  describe('when the trusted root is invalid', () => {
    it('exits 2 with TRUST_ROOT_INVALID naming the field', async () => {
      const c = captureIO(dir);
      assert.equal(await run(certArgs('qa@hospital.example', 'artifact.txt', 'broken_root.json'), c.io), 2);
      assert.match(c.err.join(''), /tlogs\[0\]\.publicKey\.validFor\.start: missing \[TRUST_ROOT_INVALID\]/);
    });
  });

  describe('when a key signed the bundle', () => {
    it('exits 0 with --key', async () => {
      const c = captureIO(dir);
      const args = [
        '--bundle',
        'key.bundle.json',
        '--key',
        'key.pub',
        '--trusted-root',
        'trusted_root.json',
        digestArg,
      ];
      assert.equal(await run(args, c.io), 0, c.err.join(''));
    });
  });

  describe('when arguments are missing', () => {
    it('exits 2 with USAGE without --trusted-root (no hidden fetch)', async () => {
      const c = captureIO(dir);
      const args = certArgs('qa@hospital.example', 'artifact.txt').slice(0, -3).concat('artifact.txt');
      assert.equal(await run(args, c.io), 2);
      assert.match(c.err.join(''), /--trusted-root is required.*\[USAGE\]/);
    });

    it('exits 2 with USAGE for --staging', async () => {
      const c = captureIO(dir);
      assert.equal(await run(['--staging', ...certArgs('qa@hospital.example', 'artifact.txt')], c.io), 2);
      assert.match(c.err.join(''), /\[USAGE\]/);
    });
  });
});
