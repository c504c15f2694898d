import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519NoteSigner, openCheckpoint } from '../../src/audit/checkpoint.ts';
import type { NoteSigner } from '../../src/audit/checkpoint.ts';
import { canonicalJson, computeEntryHash, hashIdentifier } from '../../src/audit/entry.ts';
import { verifyConsistency, verifyInclusion } from '../../src/audit/merkle.ts';
import { openSqlite, prepareCached } from '../../src/audit/sqlite.ts';
import { appendAuditEntry, readLatestCheckpoint } from '../../src/audit/store.ts';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { ORIGIN, appendDecisions, tamper, tempDir, testLog } from './fixtures.ts';

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

describe('audit store', () => {
  describe('when appending entries', () => {
    it('returns consecutive indexes, a signed checkpoint and an inclusion proof that verifies', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      for (let i = 0; i < 5; i++) {
        const r = appendAuditEntry(store, {
          kind: 'decision',
          actor: 'mercure',
          payload: { decision: 'allow', n: i },
        });
        assert.equal(r.index, i);
        const cp = openCheckpoint(r.checkpoint, log.publicKey, { origin: ORIGIN });
        assert.equal(cp.size, i + 1);
        assert.deepEqual(r.entryHash, computeEntryHash(r.entry));
        assert.equal(verifyInclusion(r.index, cp.size, r.entryHash, r.inclusionProof.hashes, cp.root), true);
      }
    });

    it('writes exactly one entry and one checkpoint per append (11.10(e))', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      appendDecisions(store, log.clock, 7);
      store.close();
      assert.equal(rowCount(log.dbPath, 'audit_entries'), 7);
      // One checkpoint per append, plus the empty tree's at creation.
      assert.equal(rowCount(log.dbPath, 'audit_checkpoints'), 8);
    });

    it('stores the payload as canonical JSON', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const r = store.append({
        kind: 'config-change',
        actor: 'admin',
        payload: { z: 1, a: { y: [true, null], b: 'é' } },
      });
      assert.equal(r.entry.payloadText, '{"a":{"b":"é","y":[true,null]},"z":1}');
    });

    it('keeps entries and continues the same tree after reopening', (t) => {
      const log = testLog(tempDir(t));
      const first = log.open();
      const notes = appendDecisions(first, log.clock, 3);
      first.close();
      const second = log.open();
      t.after(() => {
        second.close();
      });
      assert.equal(second.size(), 3);
      assert.equal(second.latestCheckpoint().note, notes[2]);
      const r = second.append({ kind: 'system', actor: 'countersign', payload: { event: 'start' } });
      assert.equal(r.index, 3);
    });
  });

  describe('when the server clock steps back (11.10(e) time stamps)', () => {
    it('flags the entry, keeps the server time and the index order', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const a = store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
      log.clock.advance(-60 * 60 * 1000);
      const b = store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
      log.clock.advance(2 * 60 * 60 * 1000);
      const c = store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
      assert.equal(a.entry.clockSteppedBack, false);
      assert.equal(b.entry.clockSteppedBack, true);
      assert.equal(b.entry.prevTs, a.entry.ts);
      assert.equal(b.entry.ts, '2025-03-01T07:00:00.000Z');
      assert.equal(b.index, a.index + 1);
      assert.equal(c.entry.clockSteppedBack, false);
      assert.equal(store.getEntry(b.index).entry.clockSteppedBack, true);
    });

    it('keeps the caller-claimed time in the payload, apart from the server time', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const r = store.append({
        kind: 'decision',
        actor: 'mercure',
        payload: { decision: 'deny' },
        callerTime: '1999-12-31T23:59:59Z',
      });
      assert.equal(r.entry.ts, '2025-03-01T08:00:00.000Z');
      assert.deepEqual(JSON.parse(r.entry.payloadText), {
        callerClaimedTime: '1999-12-31T23:59:59Z',
        decision: 'deny',
      });
      assertCode(
        () =>
          store.append({
            kind: 'decision',
            actor: 'm',
            payload: { callerClaimedTime: 'x' },
            callerTime: 'y',
          }),
        'REQUEST_INVALID',
      );
    });
  });

  describe('when the software is upgraded (11.10(a), 11.10(k))', () => {
    it('records the version in every entry and the change itself as an entry', (t) => {
      const log = testLog(tempDir(t));
      const v1 = log.open({ softwareVersion: '1.0.0' });
      const before = v1.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
      v1.close();
      const v2 = log.open({ softwareVersion: '1.1.0' });
      t.after(() => {
        v2.close();
      });
      const after = v2.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
      assert.equal(before.entry.softwareVersion, '1.0.0');
      assert.equal(after.entry.softwareVersion, '1.1.0');
      const upgrade = v2.getEntry(1).entry;
      assert.equal(upgrade.kind, 'system');
      assert.deepEqual(JSON.parse(upgrade.payloadText), {
        event: 'software-version-changed',
        from: '1.0.0',
        to: '1.1.0',
      });
      assert.equal(v2.getEntry(0).entry.softwareVersion, '1.0.0');
      assert.equal(v2.latestCheckpoint().softwareVersion, '1.1.0');
    });
  });

  describe('when someone tries to change or remove entries (11.10(c), 11.10(e))', () => {
    it('refuses UPDATE and DELETE on entries and checkpoints', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      appendDecisions(store, log.clock, 3);
      store.close();
      const db = openSqlite(log.dbPath);
      t.after(() => {
        db.close();
      });
      const refused = /append-only/;
      assert.throws(
        () => prepareCached(db, "UPDATE audit_entries SET actor = 'mallory' WHERE idx = 1").run(),
        refused,
      );
      assert.throws(() => prepareCached(db, 'DELETE FROM audit_entries WHERE idx = 2').run(), refused);
      assert.throws(
        () => prepareCached(db, "UPDATE audit_checkpoints SET note = 'x' WHERE size = 1").run(),
        refused,
      );
      assert.throws(() => prepareCached(db, 'DELETE FROM audit_checkpoints').run(), refused);
      assert.throws(
        () =>
          prepareCached(
            db,
            "INSERT OR REPLACE INTO audit_entries VALUES (1, 't', 'decision', 'mallory', '{}', '1', 0, NULL, zeroblob(32))",
          ).run(),
        refused,
      );
      assert.throws(
        () =>
          prepareCached(
            db,
            "INSERT INTO audit_entries VALUES (7, 't', 'decision', 'mallory', '{}', '1', 0, NULL, zeroblob(32))",
          ).run(),
        refused,
      );
      assert.equal(
        (prepareCached(db, 'SELECT actor FROM audit_entries WHERE idx = 1').get() as { actor: string }).actor,
        'ci-runner',
      );
    });

    it('offers no way to delete, edit or switch off recording', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const methods = Object.keys(store);
      assert.deepEqual(
        methods.filter((m) => /delete|remove|prune|purge|truncate|clear|update|edit|disable|pause/i.test(m)),
        [],
      );
    });

    it('refuses to open a trail whose rows no longer match its checkpoint, with AUDIT_UNAVAILABLE', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      appendDecisions(store, log.clock, 4);
      store.close();
      tamper(log.dbPath, (db) => db.exec('DELETE FROM audit_entries WHERE idx = 3'));
      assertCode(() => log.open(), 'AUDIT_UNAVAILABLE');
    });
  });

  describe('when the entry cannot be written', () => {
    it('throws AUDIT_UNAVAILABLE, writes nothing, and works again afterwards', (t) => {
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
      store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } });
      fail = true;
      assertCode(
        () => store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow' } }),
        'AUDIT_UNAVAILABLE',
      );
      assert.equal(store.size(), 1);
      assert.equal(store.listEntries().entries.length, 1);
      fail = false;
      const r = store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'deny' } });
      assert.equal(r.index, 1);
      const cp = openCheckpoint(r.checkpoint, log.publicKey);
      assert.equal(verifyInclusion(1, cp.size, r.entryHash, r.inclusionProof.hashes, cp.root), true);
    });

    it('throws AUDIT_UNAVAILABLE when the database is closed', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      store.close();
      assertCode(
        () => store.append({ kind: 'decision', actor: 'mercure', payload: {} }),
        'AUDIT_UNAVAILABLE',
      );
    });

    it('refuses a signer whose name is not the origin with CONFIG_INVALID', (t) => {
      const log = testLog(tempDir(t));
      assertCode(
        () => log.open({ signer: ed25519NoteSigner('other.example/log', log.privateKey) }),
        'CONFIG_INVALID',
      );
    });
  });

  describe('when reading entries back', () => {
    it('gives an entry with an inclusion proof against the latest checkpoint', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      appendDecisions(store, log.clock, 9);
      const { entry, checkpoint, inclusionProof } = store.getEntry(4);
      const cp = openCheckpoint(checkpoint.note, log.publicKey);
      assert.equal(cp.size, 9);
      assert.equal(verifyInclusion(4, 9, entry.entryHash, inclusionProof.hashes, cp.root), true);
      assertCode(() => store.getEntry(9), 'NOT_FOUND');
    });

    it('gives consistency proofs between earlier checkpoints and the latest', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const notes = appendDecisions(store, log.clock, 13);
      const latest = openCheckpoint(store.latestCheckpoint().note, log.publicKey);
      for (const note of notes) {
        const old = openCheckpoint(note, log.publicKey);
        const proof = store.consistencyProof(old.size);
        assert.equal(
          verifyConsistency(old.size, latest.size, proof, old.root, latest.root),
          true,
          `${old.size}`,
        );
      }
      assertCode(() => store.consistencyProof(5, 14), 'REQUEST_INVALID');
    });

    it('filters by kind, decision, image, policy, caller and time, and pages with a cursor', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      appendDecisions(store, log.clock, 12);
      store.append({ kind: 'auth-refused', actor: 'unknown', payload: { reason: 'UNAUTHENTICATED' } });
      const idx = (q: Parameters<typeof store.listEntries>[0]): number[] =>
        store.listEntries(q).entries.map((e) => e.index);
      assert.deepEqual(idx({ kind: 'auth-refused' }), [12]);
      assert.deepEqual(idx({ decision: 'deny' }), [0, 3, 6, 9]);
      assert.deepEqual(idx({ image: 'registry.hospital.example/vendor/algo:5' }), [5]);
      assert.deepEqual(idx({ image: `sha256:${'7'.padStart(64, '0')}` }), [7]);
      assert.deepEqual(idx({ policy: 'research' }), [1, 3, 5, 7, 9, 11]);
      assert.deepEqual(idx({ caller: 'mercure', decision: 'deny' }), [0, 6]);
      // Entry i was written at 08:00:(i+1).
      assert.deepEqual(idx({ from: '2025-03-01T08:00:03Z', to: '2025-03-01T08:00:05.000Z' }), [2, 3]);
      assert.deepEqual(idx({ limit: 3, order: 'desc' }), [12, 11, 10]);

      const seen: number[] = [];
      let cursor: string | undefined;
      do {
        const page = store.listEntries(cursor === undefined ? { limit: 5 } : { limit: 5, cursor });
        seen.push(...page.entries.map((e) => e.index));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.deepEqual(
        seen,
        Array.from({ length: 13 }, (_, i) => i),
      );
      assertCode(() => store.listEntries({ limit: 0 }), 'REQUEST_INVALID');
      assertCode(() => store.listEntries({ cursor: 'abc' }), 'REQUEST_INVALID');
      assertCode(() => store.listEntries({ from: 'yesterday' }), 'REQUEST_INVALID');
    });

    it('reads the latest checkpoint without the signing key', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      appendDecisions(store, log.clock, 2);
      const expected = store.latestCheckpoint().note;
      store.close();
      assert.equal(readLatestCheckpoint(log.dbPath).note, expected);
    });
  });

  describe('when measuring appends', () => {
    it('appends 300 durable entries with a checkpoint each', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const started = process.hrtime.bigint();
      appendDecisions(store, log.clock, 300);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      t.diagnostic(`300 appends: ${ms.toFixed(0)} ms (${(ms / 300).toFixed(2)} ms each)`);
      assert.equal(store.size(), 300);
    });
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out whitespace', () => {
    assert.equal(canonicalJson({ b: [{ d: 1, c: 2 }], a: 'x\n' }), '{"a":"x\\n","b":[{"c":2,"d":1}]}');
  });

  it('refuses values JSON cannot hold with REQUEST_INVALID', () => {
    assertCode(() => canonicalJson({ a: Number.NaN }), 'REQUEST_INVALID');
    assertCode(() => canonicalJson({ a: new Date(0) }), 'REQUEST_INVALID');
    assertCode(() => canonicalJson({ a: 1n }), 'REQUEST_INVALID');
  });
});

describe('hashIdentifier', () => {
  const salt = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });

  it('hides the identifier and is stable for one salt', () => {
    const uid = '1.2.840.113619.2.55.3.604688119.969.1268071029.320';
    const h = hashIdentifier(salt, uid);
    assert.match(h, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.equal(h.includes(uid), false);
    assert.equal(hashIdentifier(salt, uid), h);
    assert.notEqual(hashIdentifier(Buffer.from('another salt of 16+ bytes'), uid), h);
  });

  it('refuses a short salt with CONFIG_INVALID', () => {
    assertCode(() => hashIdentifier('short', 'x'), 'CONFIG_INVALID');
  });
});
