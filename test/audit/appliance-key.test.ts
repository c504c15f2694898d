import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applianceNoteSigner,
  applianceVerifierKey,
  loadOrCreateApplianceKey,
  readAppliancePublicKey,
} from '../../src/audit/appliance-key.ts';
import { openCheckpoint, signCheckpoint } from '../../src/audit/checkpoint.ts';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { ORIGIN, tempDir } from './fixtures.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CountersignError && e.code === code);
}

describe('appliance key', () => {
  describe('when the data directory is new', () => {
    it('generates a PKCS#8 key readable only by the owner and an SPKI public key', (t) => {
      const dataDir = path.join(tempDir(t), 'data');
      const key = loadOrCreateApplianceKey(dataDir);
      assert.equal(key.created, true);
      assert.equal(statSync(key.keyPath).mode & 0o777, 0o600);
      assert.match(readFileSync(key.keyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
      assert.match(readFileSync(key.publicKeyPath, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
      assert.equal(readAppliancePublicKey(key.publicKeyPath).asymmetricKeyType, 'ed25519');
    });
  });

  describe('when the key exists', () => {
    it('loads the same key, whose checkpoints verify with appliance.pub', (t) => {
      const dataDir = tempDir(t);
      const first = loadOrCreateApplianceKey(dataDir);
      const second = loadOrCreateApplianceKey(dataDir);
      assert.equal(second.created, false);
      assert.equal(second.publicKeyPem, first.publicKeyPem);
      const note = signCheckpoint(
        { origin: ORIGIN, size: 1, root: new Uint8Array(32), extensions: [] },
        applianceNoteSigner(second, ORIGIN),
      );
      assert.equal(openCheckpoint(note, readAppliancePublicKey(first.publicKeyPath)).size, 1);
      assert.match(
        applianceVerifierKey(second, ORIGIN),
        /^countersign\.test\/audit\+[0-9a-f]{8}\+A[A-Za-z0-9+/]+=*$/,
      );
    });

    it('restores a deleted appliance.pub from the private key', (t) => {
      const dataDir = tempDir(t);
      const first = loadOrCreateApplianceKey(dataDir);
      unlinkSync(first.publicKeyPath);
      loadOrCreateApplianceKey(dataDir);
      assert.equal(readFileSync(first.publicKeyPath, 'utf8'), first.publicKeyPem);
    });

    it('refuses a private key others can read with CONFIG_INVALID', (t) => {
      const dataDir = tempDir(t);
      const key = loadOrCreateApplianceKey(dataDir);
      chmodSync(key.keyPath, 0o644);
      assertCode(() => loadOrCreateApplianceKey(dataDir), 'CONFIG_INVALID');
    });

    it('refuses an appliance.pub of another key with CONFIG_INVALID', (t) => {
      const dataDir = tempDir(t);
      const key = loadOrCreateApplianceKey(dataDir);
      const other = generateKeyPairSync('ed25519')
        .publicKey.export({ type: 'spki', format: 'pem' })
        .toString();
      writeFileSync(key.publicKeyPath, other);
      assertCode(() => loadOrCreateApplianceKey(dataDir), 'CONFIG_INVALID');
    });

    it('refuses a key that is not Ed25519 with KEY_INVALID', (t) => {
      const dataDir = tempDir(t);
      const key = loadOrCreateApplianceKey(dataDir);
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(key.keyPath, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      assertCode(() => loadOrCreateApplianceKey(dataDir), 'KEY_INVALID');
      writeFileSync(key.publicKeyPath, ec.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      assertCode(() => readAppliancePublicKey(key.publicKeyPath), 'KEY_INVALID');
    });
  });
});
