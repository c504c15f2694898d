import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maximumMatching } from '../../src/policy/index.ts';
import type { MatchingInput } from '../../src/policy/index.ts';

function input(edges: Record<string, string[]>, required: string[] = []): MatchingInput {
  return {
    signers: Object.keys(edges),
    required: new Set(required),
    edges: new Map(Object.entries(edges).map(([s, ids]) => [s, new Set(ids)])),
  };
}

/** The matching is valid: edges exist, each identity used once. */
function assertValid(m: ReadonlyMap<string, string>, i: MatchingInput): void {
  const used = new Set<string>();
  for (const [signer, identity] of m) {
    assert.ok(i.edges.get(signer)?.has(identity), `${signer} -> ${identity} is not an edge`);
    assert.ok(!used.has(identity), `${identity} used twice`);
    used.add(identity);
  }
}

/** Brute force: best (required covered, size) over every injective partial assignment. */
function bruteForce(i: MatchingInput): { size: number; requiredCovered: number } {
  let best = { size: 0, requiredCovered: 0 };
  const signers = [...i.signers];
  const go = (k: number, used: Set<string>, size: number, req: number): void => {
    if (k === signers.length) {
      if (req > best.requiredCovered || (req === best.requiredCovered && size > best.size))
        best = { size, requiredCovered: req };
      return;
    }
    const s = signers[k] ?? '';
    go(k + 1, used, size, req);
    for (const id of i.edges.get(s) ?? []) {
      if (used.has(id)) continue;
      used.add(id);
      go(k + 1, used, size + 1, req + (i.required.has(s) ? 1 : 0));
      used.delete(id);
    }
  };
  go(0, new Set(), 0, 0);
  return best;
}

/** Maximum matching size regardless of required signers. */
function bruteForceSize(i: MatchingInput): number {
  return bruteForce({ ...i, required: new Set() }).size;
}

describe('maximumMatching', () => {
  describe('when one identity could serve two signers', () => {
    it('gives it to one signer only', () => {
      const i = input({ a: ['X'], b: ['X'] });
      const m = maximumMatching(i);
      assertValid(m, i);
      assert.equal(m.size, 1);
    });
  });

  describe('when a greedy assignment would block a later signer', () => {
    it('re-routes along an augmenting path', () => {
      // Greedy in order: a takes X, then b (only X) is stuck; the maximum gives a Y.
      const i = input({ a: ['X', 'Y'], b: ['X'] });
      const m = maximumMatching(i);
      assertValid(m, i);
      assert.deepEqual(Object.fromEntries(m), { a: 'Y', b: 'X' });
    });
  });

  describe('when only some maximum matchings cover the required signer', () => {
    it('finds one that does', () => {
      // Both {o: X} and {r: X} are maximum; only the second covers the required signer r.
      const i = input({ o: ['X'], r: ['X'] }, ['r']);
      const m = maximumMatching(i);
      assert.deepEqual(Object.fromEntries(m), { r: 'X' });
    });
    it('covers required signers and still reaches the maximum size', () => {
      // Greedy on a, b first would take X and Y and leave required r without an identity.
      const i = input({ a: ['X', 'Z'], b: ['Y'], r: ['X', 'Y'] }, ['r']);
      const m = maximumMatching(i);
      assertValid(m, i);
      assert.equal(m.size, 3);
      assert.ok(m.has('r'));
    });
  });

  describe('when the input order changes', () => {
    it('returns the same matching', () => {
      const a = maximumMatching(input({ a: ['X', 'Y'], b: ['Y', 'Z'], c: ['X'] }, ['b']));
      const b = maximumMatching(input({ c: ['X'], b: ['Z', 'Y'], a: ['Y', 'X'] }, ['b']));
      assert.deepEqual(Object.fromEntries([...a].sort()), Object.fromEntries([...b].sort()));
    });
  });

  describe('when compared with brute force on random small instances', () => {
    it('always covers as many required signers as possible and has maximum size', () => {
      let seed = 42;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      for (let trial = 0; trial < 400; trial++) {
        const signerCount = 1 + rand(5);
        const identityCount = 1 + rand(5);
        const edges: Record<string, string[]> = {};
        const required: string[] = [];
        for (let s = 0; s < signerCount; s++) {
          const name = `s${s}`;
          edges[name] = [];
          for (let id = 0; id < identityCount; id++) if (rand(3) === 0) edges[name].push(`i${id}`);
          if (rand(3) === 0) required.push(name);
        }
        const i = input(edges, required);
        const m = maximumMatching(i);
        assertValid(m, i);
        const best = bruteForce(i);
        const covered = [...m.keys()].filter((s) => i.required.has(s)).length;
        assert.equal(covered, best.requiredCovered, `trial ${trial}: required covered`);
        assert.equal(m.size, bruteForceSize(i), `trial ${trial}: size`);
      }
    });
  });
});
