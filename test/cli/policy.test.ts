import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CountersignError } from '../../src/errors.ts';
import { run } from '../../src/cli/policy.ts';
import type { CliIO } from '../../src/cli/io.ts';

interface Captured {
  io: CliIO;
  out: () => string;
  err: () => string;
}

function capture(cwd: string): Captured {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {}, cwd, version: 'test' },
    out: () => out,
    err: () => err,
  };
}

const GOOD = `name: radiology-prod
images: ["registry.hospital.example/vendor/**"]
signers:
  - name: vendor-release
    key: vendor-release.pub
  - name: hospital-qa
    keyless: { trustRoot: hospital-private, identity: qa@hospital.example, issuer: https://sso.hospital.example }
threshold: 2
required: [vendor-release]
`;

describe('countersign policy lint', () => {
  let root = '';
  const pem = (): string =>
    generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();

  before(() => {
    root = mkdtempSync(path.join(tmpdir(), 'countersign-policy-'));
    mkdirSync(path.join(root, 'config', 'keys'), { recursive: true });
    mkdirSync(path.join(root, 'config', 'trust-root', 'hospital-private'), { recursive: true });
    mkdirSync(path.join(root, 'config', 'policies'));
    const key = pem();
    writeFileSync(path.join(root, 'config', 'keys', 'vendor-release.pub'), key);
    writeFileSync(path.join(root, 'config', 'keys', 'vendor-copy.pub'), key);
    writeFileSync(path.join(root, 'config', 'keys', 'security.pub'), pem());
    writeFileSync(
      path.join(root, 'config', 'trust-root', 'hospital-private', 'trusted_root.json'),
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [{}],
        certificateAuthorities: [{}],
      }),
    );
    writeFileSync(path.join(root, 'config', 'policies', 'radiology.yaml'), GOOD);
    writeFileSync(path.join(root, 'config', 'policies', 'README.md'), 'not a policy');
    mkdirSync(path.join(root, 'bad'));
    writeFileSync(
      path.join(root, 'bad', 'dup-key.yaml'),
      'name: dup\nimages: ["reg/**"]\nsigners:\n  - { name: a, key: vendor-release.pub }\n  - { name: b, key: vendor-copy.pub }\n',
    );
    writeFileSync(
      path.join(root, 'bad', 'typo.yml'),
      'name: typo\nimages: ["reg/**"]\nsigners:\n  - { name: a, key: security.pub }\nthreshhold: 1\n',
    );
    mkdirSync(path.join(root, 'empty'));
    mkdirSync(path.join(root, 'broken', 'keys'), { recursive: true });
    mkdirSync(path.join(root, 'broken', 'policies'));
    writeFileSync(path.join(root, 'broken', 'keys', 'k.pub'), 'not a key');
    writeFileSync(
      path.join(root, 'broken', 'policies', 'p.yaml'),
      'name: p\nimages: ["reg/**"]\nsigners:\n  - { name: a, key: k.pub }\n',
    );
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  describe('when every policy is valid', () => {
    it('prints a summary and exits 0', async () => {
      const c = capture(root);
      assert.equal(await run(['lint', 'config/policies'], c.io), 0);
      assert.match(
        c.out(),
        /^ok {2}radiology-prod {2}config\/policies\/radiology\.yaml {2}sha256:[0-9a-f]{64} {2}\(2 of 2 signers, enforce\)$/mu,
      );
      assert.match(c.out(), /^OK: 1 policy in config\/policies$/mu);
    });
  });

  describe('when policies have problems', () => {
    it('prints every problem with file and line and exits 2', async () => {
      const c = capture(root);
      assert.equal(await run(['lint', 'bad', '--config', 'config'], c.io), 2);
      const lines = c.out().trimEnd().split('\n');
      assert.equal(lines.length, 3);
      assert.match(lines[0] ?? '', /^bad\/dup-key\.yaml:5: signers\[1\]: .*are the same key/u);
      assert.match(lines[1] ?? '', /^bad\/typo\.yml:5: threshhold: unknown field/u);
      assert.equal(lines[2], '2 problems in bad');
    });
    it('looks for keys beside the policy directory by default', async () => {
      const c = capture(root);
      assert.equal(await run(['lint', 'bad'], c.io), 2);
      assert.match(c.out(), /bad\/dup-key\.yaml:4: signers\[0\]\.key: unknown key "vendor-release\.pub"/u);
    });
    it('reports a key file that is not a public key', async () => {
      const c = capture(root);
      assert.equal(await run(['lint', 'broken/policies'], c.io), 2);
      assert.match(c.out(), /^keys\/k\.pub: not a readable PEM public key$/mu);
    });
    it('rejects a directory without policies', async () => {
      const c = capture(root);
      assert.equal(await run(['lint', 'empty'], c.io), 2);
      assert.match(c.out(), /^empty: no policy files/mu);
    });
  });

  describe('when the command line is wrong', () => {
    it('exits 2 with usage for a missing subcommand or directory', async () => {
      const c = capture(root);
      assert.equal(await run([], c.io), 2);
      assert.equal(await run(['lint'], c.io), 2);
      assert.equal(await run(['lint', 'a', '--bogus'], c.io), 2);
      assert.match(c.err(), /usage: countersign policy lint/u);
    });
    it('rejects with CONFIG_INVALID for a missing directory', async () => {
      const c = capture(root);
      await assert.rejects(
        run(['lint', 'nope'], c.io),
        (e: unknown) => e instanceof CountersignError && e.code === 'CONFIG_INVALID',
      );
    });
  });
});
