/**
 * Verification is offline: no connection other than to the configured registry, never a TUF fetch,
 * never Rekor or Fulcio. Each run executes the real CLI with a preloaded guard that records (and
 * refuses) every other connection attempt and every DNS lookup.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { pushImage } from '../support/images.ts';
import { startRegistry } from '../support/registry.ts';
import type { TestRegistry } from '../support/registry.ts';
import { cosignGenerateKeyPair, cosignSign, imageRef } from '../support/signing.ts';
import { projectRoot } from '../support/tools.ts';

const cli = path.join(projectRoot, 'src/cli/main.ts');
const guard = path.join(projectRoot, 'test/support/network-guard.ts');
const fixtures = path.resolve(projectRoot, '../shared/fixtures');

async function guarded(
  args: string[],
  allow: string[],
): Promise<{ exitCode: number; log: string[]; stdout: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cs-guard-'));
  const logFile = path.join(dir, 'network.log');
  await writeFile(logFile, '');
  const r = await execa(process.execPath, ['--import', guard, cli, ...args], {
    reject: false,
    env: { NETWORK_GUARD_LOG: logFile, NETWORK_GUARD_ALLOW: allow.join(',') },
  });
  const log = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
  return { exitCode: r.exitCode ?? -1, log, stdout: r.stdout };
}

describe('offline verification', () => {
  describe('when the guard itself is exercised', () => {
    it('records and refuses a connection to an unlisted host (the guard can fail)', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'cs-guard-'));
      const logFile = path.join(dir, 'network.log');
      await writeFile(logFile, '');
      await execa(
        process.execPath,
        ['--import', guard, '-e', "fetch('http://10.255.255.1:8081/').catch(() => {})"],
        { reject: false, env: { NETWORK_GUARD_LOG: logFile } },
      );
      assert.match(await readFile(logFile, 'utf8'), /connect-refused 10\.255\.255\.1:8081/);
    });
  });

  describe('when verifying keyless signatures under the public-good trust root', () => {
    it('allows the image with no connection and no DNS lookup at all', async () => {
      const r = await guarded(
        [
          'verify',
          `oci:${fixtures}/cosign-images/fulcio-rekor-valid:latest`,
          '--trusted-root',
          `${fixtures}/trusted-roots/public-good.json`,
          '--certificate-identity',
          'mitr@redhat.com',
          '--certificate-oidc-issuer',
          'https://github.com/login/oauth',
        ],
        [],
      );
      assert.equal(r.exitCode, 0, r.stdout);
      assert.deepEqual(r.log, []);
    });

    it('checks a Rekor SET for a key signature with no connection', async () => {
      const r = await guarded(
        [
          'verify',
          `oci:${fixtures}/cosign-images/key-rekor-valid:latest`,
          '--key',
          `${fixtures}/cosign-images/keys/cosign2.pub`,
          '--trusted-root',
          `${fixtures}/trusted-roots/public-good.json`,
          '--require-tlog',
        ],
        [],
      );
      assert.equal(r.exitCode, 0, r.stdout);
      assert.deepEqual(r.log, []);
    });
  });

  describe('when verifying an image in a registry', () => {
    let reg: TestRegistry;
    let ref: string;
    let publicKeyPath: string;
    before(async () => {
      reg = await startRegistry();
      const pushed = await pushImage(reg, 'offline/app', 'v1');
      const keys = await cosignGenerateKeyPair(await mkdtemp(path.join(tmpdir(), 'cs-keys-')), 'pw');
      publicKeyPath = keys.publicKeyPath;
      await cosignSign(reg, imageRef(reg, 'offline/app', pushed.digest), keys.privateKeyPath, 'pw');
      ref = imageRef(reg, 'offline/app', 'v1');
    });
    after(async () => {
      await reg.stop();
    });

    it('connects to the registry and nowhere else', async () => {
      const r = await guarded(
        ['verify', ref, '--key', publicKeyPath, '--insecure-registry', reg.host],
        [reg.host],
      );
      assert.equal(r.exitCode, 0, r.stdout);
      assert.ok(r.log.length > 0, 'the registry was contacted');
      for (const line of r.log) assert.equal(line, `connect-allowed ${reg.host}`);
    });
  });
});
