import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  APPLIANCE_KEY_CHAIN_FILE,
  loadOrCreateApplianceKey,
  parseAppliancePublicKey,
  readApplianceKeyChain,
} from '../../src/audit/appliance-key.ts';
import { ed25519NoteSigner, openCheckpoint, parseNote } from '../../src/audit/checkpoint.ts';
import { describeKey, keyRotationPayload } from '../../src/audit/key-chain.ts';
import { rotateApplianceKey } from '../../src/audit/key-rotation.ts';
import type { KeyRotationResult } from '../../src/audit/key-rotation.ts';
import { openAuditStore } from '../../src/audit/store.ts';
import { verifyAuditDatabase } from '../../src/audit/verify.ts';
import type { AuditProblemCode, AuditVerification } from '../../src/audit/verify.ts';
import { isCountersignError } from '../../src/errors.ts';
import { openApplianceData } from '../../src/server/data.ts';
import { createApp } from '../../src/server/app.ts';
import { createAppliance } from '../../src/server/appliance.ts';
import { TestClock, tamper, tempDir } from './fixtures.ts';

interface Trail {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly firstPem: string;
  readonly origin: string;
  readonly clock: TestClock;
  /** Appends `n` decisions through the appliance's own data layer; returns the last checkpoint. */
  append(n: number): string;
  rotate(reason?: string): KeyRotationResult;
}

function trail(t: { after(fn: () => void): void }, entries = 3): Trail {
  const dataDir = path.join(tempDir(t), 'data');
  const clock = new TestClock();
  const dbPath = path.join(dataDir, 'audit.db');
  const append = (n: number): string => {
    const data = openApplianceData({ dataDir, softwareVersion: '1.0.0', clock: clock.now });
    try {
      let note = data.audit.latestCheckpoint().note;
      for (let i = 0; i < n; i++) {
        clock.advance(1000);
        note = data.audit.append({
          kind: 'decision',
          actor: 'mercure',
          payload: { decision: 'allow', i },
        }).checkpoint;
      }
      return note;
    } finally {
      data.close();
    }
  };
  const data = openApplianceData({ dataDir, softwareVersion: '1.0.0', clock: clock.now });
  const firstPem = data.key.publicKeyPem;
  const origin = data.origin;
  data.close();
  append(entries);
  return {
    dataDir,
    dbPath,
    firstPem,
    origin,
    clock,
    append,
    rotate: (reason = 'annual key change, SOP-12') => {
      clock.advance(1000);
      return rotateApplianceKey({
        dataDir,
        dbPath,
        reason,
        actor: 'it-admin',
        softwareVersion: '1.0.0',
        clock: clock.now,
      });
    },
  };
}

const pemOf = (key: KeyObject): string =>
  (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'pem' }).toString();
const codes = (r: AuditVerification): AuditProblemCode[] => r.problems.map((p) => p.code);

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isCountersignError(e) && e.code === code);
}

describe('rotateApplianceKey', () => {
  describe('when the trail is intact and the appliance stopped', () => {
    it('records the rotation under a checkpoint signed by both keys and installs the new key', (t) => {
      const log = trail(t);
      const r = log.rotate();
      assert.equal(r.resumed, false);
      assert.equal(r.index, 3); // three decisions, then the rotation
      const newPem = readFileSync(path.join(log.dataDir, 'appliance.pub'), 'utf8');
      assert.equal(newPem, r.newKey.publicKeyPem);
      assert.notEqual(newPem, log.firstPem);
      assert.equal(r.oldKey.publicKeyPem, log.firstPem);
      // The handover checkpoint verifies under either key on its own.
      const { signatures } = parseNote(r.checkpoint);
      assert.equal(signatures.length, 2);
      assert.equal(openCheckpoint(r.checkpoint, parseAppliancePublicKey(log.firstPem)).size, r.index + 1);
      assert.equal(openCheckpoint(r.checkpoint, parseAppliancePublicKey(newPem)).size, r.index + 1);
      // The old key is kept, private and readable by the owner only.
      assert.equal(statSync(r.retiredKeyPath).mode & 0o777, 0o600);
      assert.equal(statSync(r.retiredPublicKeyPath).mode & 0o777, 0o600);
      assert.equal(readFileSync(r.retiredPublicKeyPath, 'utf8'), log.firstPem);
      assert.equal(existsSync(path.join(log.dataDir, 'appliance.key.new')), false);
      // The chain file lists both keys, the new one from the rotation on.
      const chain = readApplianceKeyChain(log.dataDir);
      assert.deepEqual(
        chain?.map((k) => [k.publicKeyPem, k.rotationEntry, k.fromCheckpointSize]),
        [
          [log.firstPem, null, 0],
          [newPem, r.index, r.index + 1],
        ],
      );
    });

    it('keeps the origin, and later checkpoints are signed by the new key only', (t) => {
      const log = trail(t);
      const r = log.rotate();
      const note = log.append(2);
      const data = openApplianceData({ dataDir: log.dataDir, softwareVersion: '1.0.0' });
      try {
        assert.equal(data.origin, log.origin);
        assert.equal(r.origin, log.origin);
        assert.equal(data.key.publicKeyPem, r.newKey.publicKeyPem);
      } finally {
        data.close();
      }
      assert.equal(parseNote(note).signatures.length, 1);
      assert.equal(openCheckpoint(note, parseAppliancePublicKey(r.newKey.publicKeyPem)).origin, log.origin);
      assertCode(() => openCheckpoint(note, parseAppliancePublicKey(log.firstPem)), 'SIGNATURE_INVALID');
    });
  });

  describe('when the appliance still has the database open', () => {
    it('refuses with AUDIT_UNAVAILABLE and changes nothing', (t) => {
      const log = trail(t);
      const running = openApplianceData({ dataDir: log.dataDir, softwareVersion: '1.0.0' });
      try {
        assert.throws(
          () => log.rotate(),
          (e: unknown) =>
            isCountersignError(e) && e.code === 'AUDIT_UNAVAILABLE' && /stop the appliance/.test(e.message),
        );
      } finally {
        running.close();
      }
      assert.equal(readFileSync(path.join(log.dataDir, 'appliance.pub'), 'utf8'), log.firstPem);
      assert.equal(existsSync(path.join(log.dataDir, 'appliance.key.new')), false);
      assert.equal(existsSync(path.join(log.dataDir, APPLIANCE_KEY_CHAIN_FILE)), false);
      assert.equal(verifyAuditDatabase(log.dbPath, log.firstPem).entries, 3);
    });
  });

  describe('when the trail does not verify', () => {
    it('refuses with AUDIT_UNAVAILABLE: a damaged trail is not handed over', (t) => {
      const log = trail(t);
      tamper(log.dbPath, (db) => {
        db.prepare("UPDATE audit_entries SET actor = 'someone-else' WHERE idx = 1").run();
      });
      assertCode(() => log.rotate(), 'AUDIT_UNAVAILABLE');
      assert.equal(readFileSync(path.join(log.dataDir, 'appliance.pub'), 'utf8'), log.firstPem);
    });
  });

  describe('when the reason is empty', () => {
    it('throws USAGE', (t) => {
      const log = trail(t);
      assertCode(() => log.rotate('  '), 'USAGE');
    });
  });

  describe('when a rotation was interrupted after it was recorded', () => {
    it('refuses to start the appliance, and running it again finishes the same rotation', (t) => {
      const log = trail(t);
      const r = log.rotate();
      // Put the files back as they were between the commit and the installation.
      const keyPath = path.join(log.dataDir, 'appliance.key');
      renameSync(keyPath, `${keyPath}.new`);
      renameSync(path.join(log.dataDir, 'appliance.pub'), path.join(log.dataDir, 'appliance.pub.new'));
      writeFileSync(keyPath, readFileSync(r.retiredKeyPath), { mode: 0o600 });
      writeFileSync(path.join(log.dataDir, 'appliance.pub'), log.firstPem);
      unlinkSync(path.join(log.dataDir, APPLIANCE_KEY_CHAIN_FILE));

      assertCode(() => loadOrCreateApplianceKey(log.dataDir), 'CONFIG_INVALID');
      const again = log.rotate();
      assert.equal(again.resumed, true);
      assert.equal(again.index, r.index);
      assert.equal(again.newKey.fingerprint, r.newKey.fingerprint);
      const check = verifyAuditDatabase(log.dbPath, log.firstPem);
      assert.equal(check.ok, true);
      assert.equal(check.entries, r.index + 1, 'no second rotation entry');
      assert.equal(loadOrCreateApplianceKey(log.dataDir).publicKeyPem, r.newKey.publicKeyPem);
    });
  });

  describe('when a new key was written but the rotation never recorded', () => {
    it('discards it and rotates afresh', (t) => {
      const log = trail(t);
      const stray = generateKeyPairSync('ed25519');
      writeFileSync(
        path.join(log.dataDir, 'appliance.key.new'),
        stray.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        { mode: 0o600 },
      );
      const r = log.rotate();
      assert.equal(r.resumed, false);
      assert.notEqual(r.newKey.publicKeyPem, pemOf(stray.publicKey));
      assert.equal(verifyAuditDatabase(log.dbPath, log.firstPem).ok, true);
    });
  });

  describe('when appliance-keys.json is lost after a rotation', () => {
    it('refuses to load the key rather than change the origin (CONFIG_INVALID)', (t) => {
      const log = trail(t);
      log.rotate();
      unlinkSync(path.join(log.dataDir, APPLIANCE_KEY_CHAIN_FILE));
      assertCode(() => loadOrCreateApplianceKey(log.dataDir), 'CONFIG_INVALID');
    });

    it('with retired/ lost too, the store refuses the other origin (AUDIT_UNAVAILABLE)', (t) => {
      const log = trail(t);
      const r = log.rotate();
      unlinkSync(path.join(log.dataDir, APPLIANCE_KEY_CHAIN_FILE));
      rmSync(path.dirname(r.retiredKeyPath), { recursive: true });
      assertCode(
        () => openApplianceData({ dataDir: log.dataDir, softwareVersion: '1.0.0' }),
        'AUDIT_UNAVAILABLE',
      );
      assert.equal(verifyAuditDatabase(log.dbPath, log.firstPem).ok, true);
    });
  });
});

describe('verifyAuditDatabase across key rotations', () => {
  describe('when the trail was rotated and appended to', () => {
    it('passes with the pinned old key and lists the chain it followed', (t) => {
      const log = trail(t);
      const r = log.rotate();
      log.append(3);
      const result = verifyAuditDatabase(log.dbPath, log.firstPem);
      assert.deepEqual(result.problems, []);
      assert.equal(result.ok, true);
      assert.deepEqual(
        result.keys.map((k) => [k.fingerprint, k.rotationEntry, k.fromCheckpointSize]),
        [
          [r.oldKey.fingerprint, null, 0],
          [r.newKey.fingerprint, r.index, r.index + 1],
        ],
      );
      assert.equal(result.latestCheckpoint?.size, r.index + 4);
    });

    it('passes with the new key pinned: it vouches for the earlier key through the co-signed checkpoint', (t) => {
      const log = trail(t);
      const r = log.rotate();
      log.append(2);
      const result = verifyAuditDatabase(log.dbPath, r.newKey.publicKeyPem);
      assert.deepEqual(result.problems, []);
      assert.equal(result.keys.length, 2);
    });

    it('follows two rotations from any key of the chain', (t) => {
      const log = trail(t);
      const first = log.rotate();
      log.append(1);
      const second = log.rotate('suspected exposure of the backup tape');
      log.append(1);
      for (const pem of [log.firstPem, first.newKey.publicKeyPem, second.newKey.publicKeyPem]) {
        const result = verifyAuditDatabase(log.dbPath, pem);
        assert.deepEqual(result.problems, []);
        assert.deepEqual(
          result.keys.map((k) => k.rotationEntry),
          [null, first.index, second.index],
        );
      }
      assert.equal(readApplianceKeyChain(log.dataDir)?.length, 3);
    });

    it('accepts an auditor checkpoint from before the rotation and one from after', (t) => {
      const log = trail(t);
      const before = log.append(1);
      log.rotate();
      const after = log.append(1);
      log.append(1);
      for (const expected of [before, after]) {
        const result = verifyAuditDatabase(log.dbPath, log.firstPem, { expectedCheckpoint: expected });
        assert.deepEqual(result.problems, []);
      }
    });
  });

  describe('when a key was pinned that the trail never announced', () => {
    it('fails with CHECKPOINT_SIGNATURE_INVALID', (t) => {
      const log = trail(t);
      log.rotate();
      const other = pemOf(generateKeyPairSync('ed25519').publicKey);
      const result = verifyAuditDatabase(log.dbPath, other);
      assert.equal(result.ok, false);
      assert.ok(codes(result).includes('CHECKPOINT_SIGNATURE_INVALID'));
    });
  });

  describe('when someone with file access forges a rotation to their own key', () => {
    /** Appends a rotation to `attacker` (and entries after it) with checkpoints signed by `signers`. */
    function forge(log: Trail, signers: readonly KeyObject[], attacker: KeyObject): number {
      const [signer, ...cosigners] = signers.map((k) => ed25519NoteSigner(log.origin, k));
      assert.ok(signer !== undefined);
      const store = openAuditStore({
        path: log.dbPath,
        origin: log.origin,
        signer,
        cosigners,
        softwareVersion: '1.0.0',
        clock: log.clock.now,
      });
      try {
        const index = store.append({
          kind: 'config-change',
          actor: 'it-admin',
          payload: keyRotationPayload({
            oldKey: describeKey(log.origin, parseAppliancePublicKey(log.firstPem)),
            newKey: describeKey(log.origin, attacker),
            reason: 'routine',
          }),
        }).index;
        store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
        return index;
      } finally {
        store.close();
      }
    }

    it('detects a rotation whose checkpoint the old key did not sign (KEY_ROTATION_INVALID)', (t) => {
      const log = trail(t);
      const attacker = generateKeyPairSync('ed25519').privateKey;
      const index = forge(log, [attacker], attacker);
      const result = verifyAuditDatabase(log.dbPath, log.firstPem);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.code === 'KEY_ROTATION_INVALID' && p.index === index));
      // The announced key is not followed: the checkpoints it signed after the forgery fail too.
      assert.equal(result.problems.filter((p) => p.code === 'CHECKPOINT_SIGNATURE_INVALID').length, 2);
      assert.equal(result.keys.length, 1);
      assert.equal(result.firstBadIndex, index);
      // Pinning the forger's key does not help: the chain to it is broken.
      assert.equal(verifyAuditDatabase(log.dbPath, pemOf(attacker)).ok, false);
    });

    it('detects a rotation the new key never signed: no proof the announced key is held', (t) => {
      const log = trail(t);
      const data = loadOrCreateApplianceKey(log.dataDir);
      const announced = generateKeyPairSync('ed25519').privateKey;
      const index = forge(log, [data.privateKey], announced);
      const result = verifyAuditDatabase(log.dbPath, log.firstPem);
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => p.code === 'KEY_ROTATION_INVALID' && p.index === index));
      assert.equal(result.keys.length, 1);
    });
  });
});

describe('the appliance after a key rotation', () => {
  it('signs new checkpoints with the new key, serves it, and the trail verifies', async (t) => {
    const log = trail(t);
    const configDir = path.dirname(log.dataDir);
    const r = log.rotate();
    const data = openApplianceData({ dataDir: log.dataDir, softwareVersion: '1.0.0' });
    const auditor = data.tokens.create({ name: 'quality', role: 'auditor', createdBy: 'test' }).token;
    const appliance = await createAppliance({
      configDir,
      audit: data.audit,
      tokens: data.tokens,
      key: data.key,
      softwareVersion: '1.0.0',
      readOnlyConfig: true,
    });
    const app = await createApp({ appliance });
    try {
      const recorded = appliance.record({ kind: 'system', actor: 'countersign', payload: { event: 'test' } });
      assert.equal(parseNote(recorded.checkpoint).signatures.length, 1);
      const newKey = parseAppliancePublicKey(r.newKey.publicKeyPem);
      assert.equal(
        openCheckpoint(recorded.checkpoint, newKey, { origin: log.origin }).size,
        recorded.index + 1,
      );
      const res = await app.inject({
        method: 'GET',
        url: '/v1/audit/checkpoint',
        headers: { authorization: `Bearer ${auditor}` },
      });
      assert.equal(res.statusCode, 200);
      const body = res.json<{ origin: string; publicKey: string; verifierKey: string }>();
      assert.equal(body.origin, log.origin);
      assert.equal(body.publicKey, r.newKey.publicKeyPem);
      assert.equal(body.verifierKey, r.newKey.verifierKey);
    } finally {
      await app.close();
      data.close();
    }
    const result = verifyAuditDatabase(log.dbPath, log.firstPem);
    assert.deepEqual(result.problems, []);
  });
});
