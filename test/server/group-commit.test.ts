/**
 * Group commit: decisions queued in the same turn share one transaction and one checkpoint; each
 * promise settles only after that commit; a failed commit rejects every entry in it with
 * AUDIT_UNAVAILABLE; an invalid entry is refused alone; flush commits what waits.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519NoteSigner, openCheckpoint } from '../../src/audit/checkpoint.ts';
import type { NoteSigner } from '../../src/audit/checkpoint.ts';
import type { AppendInput, AuditKind } from '../../src/audit/index.ts';
import { verifyInclusion } from '../../src/audit/merkle.ts';
import { isCountersignError } from '../../src/errors.ts';
import { createGroupCommitter } from '../../src/server/group-commit.ts';
import { ORIGIN, tempDir, testLog } from '../audit/fixtures.ts';

const decision = (n: number): AppendInput => ({ kind: 'decision', actor: 'mercure', payload: { n } });

function codeOf(e: unknown): string {
  return isCountersignError(e) ? e.code : `not a CountersignError: ${String(e)}`;
}

describe('createGroupCommitter', () => {
  describe('when entries are appended in the same turn', () => {
    it('commits them in one transaction and resolves each with a receipt for the shared checkpoint', async (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const commits: number[] = [];
      const committer = createGroupCommitter(store, {
        onCommit: (entries, ok) => {
          assert.equal(ok, true);
          commits.push(entries);
        },
      });
      const promises = Array.from({ length: 20 }, (_, i) => committer.append(decision(i)));
      assert.equal(committer.pending(), 20);
      // Nothing is durable, so nothing is answered, before the commit.
      assert.equal(store.size(), 0);
      const results = await Promise.all(promises);
      assert.deepEqual(commits, [20]);
      assert.deepEqual(
        results.map((r) => r.index),
        Array.from({ length: 20 }, (_, i) => i),
      );
      for (const r of results) {
        const cp = openCheckpoint(r.checkpoint, log.publicKey, { origin: ORIGIN });
        assert.equal(cp.size, 20);
        assert.equal(verifyInclusion(r.index, cp.size, r.entryHash, r.inclusionProof.hashes, cp.root), true);
      }
    });

    it('splits a queue longer than maxBatch into several commits, in order', async (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const commits: number[] = [];
      const committer = createGroupCommitter(store, {
        maxBatch: 4,
        onCommit: (entries) => commits.push(entries),
      });
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => committer.append(decision(i))));
      assert.deepEqual(commits, [4, 4, 2]);
      assert.deepEqual(
        results.map((r) => r.index),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    });

    it('puts entries that arrive during a commit into the next one', async (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const commits: number[] = [];
      const committer = createGroupCommitter(store, { onCommit: (entries) => commits.push(entries) });
      const first = [committer.append(decision(0)), committer.append(decision(1))];
      const later = first[0]?.then(() => [committer.append(decision(2)), committer.append(decision(3))]);
      await Promise.all(first);
      await Promise.all((await later) ?? []);
      assert.deepEqual(commits, [2, 2]);
      assert.equal(store.size(), 4);
    });
  });

  describe('when more entries are on their way', () => {
    it('waits for them and commits all in one transaction', async (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      let coming = 3;
      const commits: number[] = [];
      const committer = createGroupCommitter(store, {
        onTheirWay: () => coming,
        maxWaitMs: 10_000,
        onCommit: (entries) => commits.push(entries),
      });
      const arrive = (n: number) => {
        coming--;
        return committer.append(decision(n));
      };
      const first = arrive(0);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(commits, []);
      const second = arrive(1);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(commits, []);
      // The third request fails before it has an entry: nobody else is coming, commit now.
      coming--;
      committer.nudge();
      await Promise.all([first, second]);
      assert.deepEqual(commits, [2]);
    });

    it('commits after maxWaitMs at the latest', async (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const commits: number[] = [];
      const committer = createGroupCommitter(store, {
        onTheirWay: () => 5,
        maxWaitMs: 5,
        onCommit: (entries) => commits.push(entries),
      });
      const r = await committer.append(decision(0));
      assert.equal(r.index, 0);
      assert.deepEqual(commits, [1]);
    });
  });

  describe('when the commit fails', () => {
    it('rejects every entry of the batch with AUDIT_UNAVAILABLE and writes none of them', async (t) => {
      const log = testLog(tempDir(t));
      const real = ed25519NoteSigner(ORIGIN, log.privateKey);
      let fail = false;
      const flaky: NoteSigner = {
        name: real.name,
        keyId: real.keyId,
        sign: (m) => {
          if (fail) throw new Error('disk full');
          return real.sign(m);
        },
      };
      const store = log.open({ signer: flaky });
      t.after(() => {
        store.close();
      });
      fail = true;
      const committer = createGroupCommitter(store);
      const settled = await Promise.allSettled([1, 2, 3].map((n) => committer.append(decision(n))));
      assert.deepEqual(
        settled.map((s) => (s.status === 'rejected' ? codeOf(s.reason) : 'fulfilled')),
        ['AUDIT_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'AUDIT_UNAVAILABLE'],
      );
      assert.equal(store.size(), 0);
      fail = false;
      assert.equal((await committer.append(decision(4))).index, 0);
    });
  });

  describe('when one entry of a batch is invalid', () => {
    it('refuses that entry with REQUEST_INVALID and commits the others', async (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const committer = createGroupCommitter(store);
      const settled = await Promise.allSettled([
        committer.append(decision(0)),
        committer.append({ kind: 'bogus' as AuditKind, actor: 'x', payload: {} }),
        committer.append(decision(2)),
      ]);
      assert.deepEqual(
        settled.map((s) => (s.status === 'rejected' ? codeOf(s.reason) : s.value.index)),
        [0, 'REQUEST_INVALID', 1],
      );
    });
  });

  describe('when flushed', () => {
    it('commits what waits at once', (t) => {
      const log = testLog(tempDir(t));
      const store = log.open();
      t.after(() => {
        store.close();
      });
      const committer = createGroupCommitter(store);
      void committer.append(decision(0));
      void committer.append(decision(1));
      committer.flush();
      assert.equal(committer.pending(), 0);
      assert.equal(store.size(), 2);
    });
  });
});
