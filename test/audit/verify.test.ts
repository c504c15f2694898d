import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519NoteSigner, signCheckpoint } from '../../src/audit/checkpoint.ts';
import { computeEntryHash } from '../../src/audit/entry.ts';
import type { AuditKind } from '../../src/audit/entry.ts';
import { prepareCached } from '../../src/audit/sqlite.ts';
import type { SqliteDatabase } from '../../src/audit/sqlite.ts';
import { verifyAuditDatabase } from '../../src/audit/verify.ts';
import type { AuditProblemCode, AuditVerification } from '../../src/audit/verify.ts';
import { CountersignError } from '../../src/errors.ts';
import { ORIGIN, appendDecisions, tamper, tempDir, testLog } from './fixtures.ts';
import type { TestLog } from './fixtures.ts';

interface Row {
  idx: number;
  ts: string;
  kind: AuditKind;
  actor: string;
  payload: string;
  software_version: string;
  clock_stepped_back: number;
  prev_ts: string | null;
}

/** A log of ten decisions, closed; `notes[i]` is the signed checkpoint after entry i. */
function tenEntryLog(t: { after(fn: () => void): void }): { log: TestLog; notes: string[] } {
  const log = testLog(tempDir(t));
  const store = log.open();
  const notes = appendDecisions(store, log.clock, 10);
  store.close();
  return { log, notes };
}

function rehash(row: Row): Buffer {
  return Buffer.from(
    computeEntryHash({
      index: row.idx,
      ts: row.ts,
      kind: row.kind,
      actor: row.actor,
      payloadText: row.payload,
      softwareVersion: row.software_version,
      clockSteppedBack: row.clock_stepped_back === 1,
      prevTs: row.prev_ts,
    }),
  );
}

function readRow(db: SqliteDatabase, idx: number): Row {
  return prepareCached(db, 'SELECT * FROM audit_entries WHERE idx = ?').get(idx) as Row;
}

function codesAt(result: AuditVerification, index: number): AuditProblemCode[] {
  return result.problems.filter((p) => p.index === index).map((p) => p.code);
}

describe('verifyAuditDatabase', () => {
  describe('when the database is untouched', () => {
    it('reports ok with every entry and checkpoint counted', (t) => {
      const { log, notes } = tenEntryLog(t);
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem, { expectedCheckpoint: notes[9]! });
      assert.deepEqual(result.problems, []);
      assert.equal(result.ok, true);
      assert.equal(result.entries, 10);
      assert.equal(result.checkpoints, 11);
      assert.equal(result.firstBadIndex, undefined);
      assert.equal(result.latestCheckpoint?.size, 10);
    });

    it('accepts an earlier checkpoint kept outside, as a restored backup check does (11.10(c))', (t) => {
      const { log, notes } = tenEntryLog(t);
      const backup = path.join(path.dirname(log.dbPath), 'backup.db');
      copyFileSync(log.dbPath, backup);
      const store = log.open();
      appendDecisions(store, log.clock, 5);
      store.close();
      // The live trail extends the checkpoint taken at backup time; the backup matches it exactly.
      assert.equal(
        verifyAuditDatabase(log.dbPath, log.publicKeyPem, { expectedCheckpoint: notes[9]! }).ok,
        true,
      );
      assert.equal(verifyAuditDatabase(backup, log.publicKeyPem, { expectedCheckpoint: notes[9]! }).ok, true);
      assert.equal(verifyAuditDatabase(backup, log.publicKeyPem, { expectedCheckpoint: notes[4]! }).ok, true);
    });
  });

  describe('when one byte of a row is edited (11.10(a))', () => {
    it('names the edited entry', (t) => {
      const { log } = tenEntryLog(t);
      tamper(log.dbPath, (db) => {
        db.exec("UPDATE audit_entries SET payload = replace(payload, 'allow', 'allox') WHERE idx = 5");
      });
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.ok, false);
      assert.equal(result.firstBadIndex, 5);
      assert.ok(codesAt(result, 5).includes('ENTRY_HASH_MISMATCH'));
      assert.ok(result.problems.some((p) => p.code === 'TRIGGER_MISSING'));
    });

    it('names the edited entry even when its stored hash was recomputed', (t) => {
      const { log } = tenEntryLog(t);
      tamper(log.dbPath, (db) => {
        const row = readRow(db, 5);
        row.actor = 'someone-else';
        prepareCached(db, 'UPDATE audit_entries SET actor = ?, entry_hash = ? WHERE idx = 5').run(
          row.actor,
          rehash(row),
        );
      });
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.firstBadIndex, 5);
      assert.deepEqual(codesAt(result, 5), ['CHECKPOINT_ROOT_MISMATCH']);
    });
  });

  describe('when a row is deleted', () => {
    it('names the missing entry', (t) => {
      const { log } = tenEntryLog(t);
      tamper(log.dbPath, (db) => db.exec('DELETE FROM audit_entries WHERE idx = 4'));
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.firstBadIndex, 4);
      assert.ok(codesAt(result, 4).includes('ENTRY_MISSING'));
    });
  });

  describe('when the tail is cut together with its checkpoints', () => {
    it('passes on its own but fails against a checkpoint kept outside, naming the first lost entry', (t) => {
      const { log, notes } = tenEntryLog(t);
      tamper(log.dbPath, (db) => {
        db.exec('DELETE FROM audit_entries WHERE idx >= 7');
        db.exec('DELETE FROM audit_checkpoints WHERE size > 7');
      });
      // Without outside state a clean cut is undetectable, apart from the missing triggers: this is
      // why the verifier, not the log, holds the trusted checkpoint.
      const alone = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.deepEqual(
        alone.problems.map((p) => p.code),
        alone.problems.map(() => 'TRIGGER_MISSING'),
      );
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem, { expectedCheckpoint: notes[9]! });
      assert.equal(result.firstBadIndex, 7);
      assert.deepEqual(codesAt(result, 7), ['TAIL_MISSING']);
    });

    it('names the first lost entry when rows were cut but checkpoints left', (t) => {
      const { log } = tenEntryLog(t);
      tamper(log.dbPath, (db) => db.exec('DELETE FROM audit_entries WHERE idx >= 8'));
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.firstBadIndex, 8);
      assert.ok(codesAt(result, 8).includes('CHECKPOINT_BEYOND_LOG'));
    });
  });

  describe('when a row is inserted', () => {
    it('names a row appended outside countersign', (t) => {
      const { log } = tenEntryLog(t);
      tamper(log.dbPath, (db) => {
        const last = readRow(db, 9);
        const row: Row = {
          ...last,
          idx: 10,
          actor: 'mallory',
          ts: '2025-03-01T09:00:00.000Z',
          prev_ts: last.ts,
        };
        prepareCached(db, 'INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
          row.idx,
          row.ts,
          row.kind,
          row.actor,
          row.payload,
          row.software_version,
          row.clock_stepped_back,
          row.prev_ts,
          rehash(row),
        );
      });
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.firstBadIndex, 10);
      assert.deepEqual(codesAt(result, 10), ['ENTRY_NOT_CHECKPOINTED']);
    });

    it('names a row slipped into the middle, with every later row renumbered and rehashed', (t) => {
      const { log } = tenEntryLog(t);
      tamper(log.dbPath, (db) => {
        const rows = (prepareCached(db, 'SELECT * FROM audit_entries ORDER BY idx').all() as Row[]).map(
          (r) => ({ ...r }),
        );
        const forged: Row = { ...rows[2]!, actor: 'mallory', payload: '{"decision":"allow"}' };
        const rewritten = [...rows.slice(0, 3), forged, ...rows.slice(3)].map((r, i, all) => ({
          ...r,
          idx: i,
          prev_ts: i === 0 ? null : all[i - 1]!.ts,
        }));
        db.exec('DELETE FROM audit_entries');
        const insert = prepareCached(db, 'INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
        for (const r of rewritten) {
          insert.run(
            r.idx,
            r.ts,
            r.kind,
            r.actor,
            r.payload,
            r.software_version,
            r.clock_stepped_back,
            r.prev_ts,
            rehash(r),
          );
        }
      });
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.firstBadIndex, 3);
      assert.ok(codesAt(result, 3).includes('CHECKPOINT_ROOT_MISMATCH'));
    });
  });

  describe('when a checkpoint is forged', () => {
    it('names the entry the forged checkpoint vouches for', (t) => {
      const { log } = tenEntryLog(t);
      const forger = ed25519NoteSigner(ORIGIN, generateKeyPairSync('ed25519').privateKey);
      tamper(log.dbPath, (db) => {
        const row = prepareCached(db, 'SELECT root FROM audit_checkpoints WHERE size = 6').get() as {
          root: Buffer;
        };
        const note = signCheckpoint({ origin: ORIGIN, size: 6, root: row.root, extensions: [] }, forger);
        prepareCached(db, 'UPDATE audit_checkpoints SET note = ? WHERE size = 6').run(note);
      });
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(result.firstBadIndex, 5);
      assert.deepEqual(codesAt(result, 5), ['CHECKPOINT_SIGNATURE_INVALID']);
    });

    it('reports every checkpoint when the wrong public key is given', (t) => {
      const { log } = tenEntryLog(t);
      const otherPem = generateKeyPairSync('ed25519')
        .publicKey.export({ type: 'spki', format: 'pem' })
        .toString();
      const result = verifyAuditDatabase(log.dbPath, otherPem);
      assert.equal(result.ok, false);
      assert.equal(result.problems.filter((p) => p.code === 'CHECKPOINT_SIGNATURE_INVALID').length, 11);
      assert.equal(result.firstBadIndex, 0);
    });

    it('rejects a checkpoint kept outside that does not verify', (t) => {
      const { log, notes } = tenEntryLog(t);
      const result = verifyAuditDatabase(log.dbPath, log.publicKeyPem, {
        expectedCheckpoint: notes[9]!.replace('\n10\n', '\n11\n'),
      });
      assert.deepEqual(
        result.problems.map((p) => p.code),
        ['EXPECTED_CHECKPOINT_INVALID'],
      );
    });
  });

  describe('when the trail was rebuilt from scratch with the same key', () => {
    it('fails against the checkpoint kept outside', (t) => {
      const keys = generateKeyPairSync('ed25519');
      const original = testLog(tempDir(t), keys);
      const store = original.open();
      const notes = appendDecisions(store, original.clock, 6);
      store.close();
      const rebuilt = testLog(tempDir(t), keys);
      const other = rebuilt.open();
      appendDecisions(other, rebuilt.clock, 3);
      other.append({ kind: 'decision', actor: 'mallory', payload: { decision: 'allow' } });
      appendDecisions(other, rebuilt.clock, 4);
      other.close();
      const result = verifyAuditDatabase(
        rebuilt.dbPath,
        keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        {
          expectedCheckpoint: notes[5]!,
        },
      );
      assert.deepEqual(
        result.problems.map((p) => p.code),
        ['EXPECTED_CHECKPOINT_MISMATCH'],
      );
    });
  });

  describe('when it cannot start', () => {
    it('throws CONFIG_INVALID for a missing database and KEY_INVALID for a bad key', (t) => {
      const { log } = tenEntryLog(t);
      assert.throws(
        () => verifyAuditDatabase(path.join(path.dirname(log.dbPath), 'nope.db'), log.publicKeyPem),
        (e: unknown) => e instanceof CountersignError && e.code === 'CONFIG_INVALID',
      );
      assert.throws(
        () => verifyAuditDatabase(log.dbPath, 'not a key'),
        (e: unknown) => e instanceof CountersignError && e.code === 'KEY_INVALID',
      );
    });
  });
});
