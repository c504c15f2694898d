/**
 * Group commit in the audit store: appendBatch writes several entries in one transaction with one
 * checkpoint covering them all; each receipt's inclusion proof verifies against that checkpoint;
 * a failure writes nothing of the batch; an invalid input refuses the batch before any write; the
 * offline verifier accepts a trail written in batches.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519NoteSigner, openCheckpoint } from '../../src/audit/checkpoint.ts';
import type { NoteSigner } from '../../src/audit/checkpoint.ts';
import { computeEntryHash } from '../../src/audit/entry.ts';
import type { AuditKind } from '../../src/audit/entry.ts';
import { verifyInclusion } from '../../src/audit/merkle.ts';
import { openSqlite, prepareCached } from '../../src/audit/sqlite.ts';
import { verifyAuditDatabase } from '../../src/audit/verify.ts';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { ORIGIN, tempDir, testLog } from './fixtures.ts';

function assertCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CountersignError && e.code === code);
}

function rowCount(dbPath: string, table: string): number {
  const db = openSqlite(dbPath, { readonly: true });
  try {
    return (prepareCached(db, `SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const decision = (n: number) => ({
  kind: 'decision' as const,
  actor: 'mercure',
  payload: { decision: 'allow', n },
});

describe('audit store appendBatch', () => {
  describe('when several entries are appended together', () => {
    it('gives consecutive indexes and one checkpoint whose root every receipt proves inclusion in', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      store.append(decision(-1));
      const results = store.appendBatch([decision(0), decision(1), decision(2), decision(3), decision(4)]);
      assert.deepEqual(
        results.map((r) => r.index),
        [1, 2, 3, 4, 5],
      );
      const checkpoints = new Set(results.map((r) => r.checkpoint));
      assert.equal(checkpoints.size, 1);
      for (const r of results) {
        const cp = openCheckpoint(r.checkpoint, log.publicKey, { origin: ORIGIN });
        assert.equal(cp.size, 6);
        assert.equal(r.inclusionProof.treeSize, 6);
        assert.deepEqual(r.entryHash, computeEntryHash(r.entry));
        assert.equal(verifyInclusion(r.index, cp.size, r.entryHash, r.inclusionProof.hashes, cp.root), true);
        assert.equal((JSON.parse(r.entry.payloadText) as { n: number }).n, r.index - 1);
      }
      // Each entry chains to the one before it (prev_ts), as single appends do.
      assert.equal(results[1]?.entry.prevTs, results[0]?.entry.ts);
      store.close();
      // The creation checkpoint, the single append's and the batch's.
      assert.equal(rowCount(log.dbPath, 'audit_entries'), 6);
      assert.equal(rowCount(log.dbPath, 'audit_checkpoints'), 3);
      const check = verifyAuditDatabase(log.dbPath, log.publicKeyPem);
      assert.equal(check.ok, true, JSON.stringify(check.problems));
      assert.equal(check.entries, 6);
    });

    it('returns nothing and writes nothing for an empty batch', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      assert.deepEqual(store.appendBatch([]), []);
      assert.equal(store.size(), 0);
    });
  });

  describe('when an input is invalid', () => {
    it('refuses the batch with REQUEST_INVALID and writes none of it', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      assertCode(
        () => store.appendBatch([decision(0), { kind: 'nonsense' as AuditKind, actor: 'x', payload: {} }]),
        'REQUEST_INVALID',
      );
      assertCode(
        () => store.appendBatch([decision(0), { kind: 'decision', actor: 'x', payload: { n: Number.NaN } }]),
        'REQUEST_INVALID',
      );
      assertCode(
        () => store.appendBatch([decision(0), { kind: 'decision', actor: '', payload: {} }]),
        'REQUEST_INVALID',
      );
      assert.equal(store.size(), 0);
      assert.equal(store.listEntries().entries.length, 0);
    });
  });

  describe('when the batch cannot be committed', () => {
    it('throws AUDIT_UNAVAILABLE, writes no entry of it, and appends again afterwards', (t) => {
      const log = testLog(tempDir(t));
      const real = ed25519NoteSigner(ORIGIN, log.privateKey);
      let fail = false;
      const flaky: NoteSigner = {
        name: real.name,
        keyId: real.keyId,
        sign: (m) => {
          if (fail) throw new Error('HSM unplugged');
          return real.sign(m);
        },
      };
      const store = log.open({ signer: flaky });
      t.after(() => {
        store.close();
      });
      store.append(decision(0));
      fail = true;
      assertCode(() => store.appendBatch([decision(1), decision(2), decision(3)]), 'AUDIT_UNAVAILABLE');
      assert.equal(store.size(), 1);
      assert.equal(store.listEntries().entries.length, 1);
      fail = false;
      const [r] = store.appendBatch([decision(4), decision(5)]);
      assert.equal(r?.index, 1);
      const cp = openCheckpoint(r.checkpoint, log.publicKey);
      assert.equal(verifyInclusion(1, cp.size, r.entryHash, r.inclusionProof.hashes, cp.root), true);
      store.close();
      assert.equal(verifyAuditDatabase(log.dbPath, log.publicKeyPem).ok, true);
    });
  });
});
