import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ChunkedProofTree } from '../../../src/audit/export/proof-tree.ts';
import { MerkleTree, verifyConsistency, verifyInclusion } from '../../../src/audit/merkle.ts';

function leaves(n: number): Uint8Array[] {
  return Array.from(
    { length: n },
    (_, i) => new Uint8Array(createHash('sha256').update(`leaf ${i}`).digest()),
  );
}

function hex(list: readonly Uint8Array[]): string[] {
  return list.map((h) => Buffer.from(h).toString('hex'));
}

describe('ChunkedProofTree', () => {
  describe('when compared with the full in-memory tree', () => {
    it('gives the same root, inclusion and consistency proofs for every size, leaf and chunk size', () => {
      const all = leaves(70);
      for (const chunk of [1, 2, 4, 8, 16]) {
        for (let size = 0; size <= all.length; size++) {
          let reads = 0;
          const tree = ChunkedProofTree.build(
            size,
            (s, e) => {
              reads++;
              return all.slice(s, e);
            },
            chunk,
          );
          const full = MerkleTree.fromLeafHashes(all.slice(0, size));
          assert.deepEqual(hex([tree.root()]), hex([full.root()]), `root ${size}/${chunk}`);
          assert.ok(reads >= Math.floor(size / chunk));
          for (let m = 0; m < size; m++) {
            const proof = tree.inclusionProof(m);
            assert.deepEqual(hex(proof), hex(full.inclusionProof(m)), `path ${m} in ${size}/${chunk}`);
            assert.ok(verifyInclusion(m, size, all[m]!, proof, full.root()));
          }
          for (let from = 0; from <= size; from++) {
            const proof = tree.consistencyProof(from);
            assert.deepEqual(
              hex(proof),
              hex(full.consistencyProof(from, size)),
              `proof ${from}->${size}/${chunk}`,
            );
            assert.ok(verifyConsistency(from, size, proof, full.root(from), full.root()));
          }
        }
      }
    });
  });

  describe('when asked for a leaf outside the tree', () => {
    it('throws a RangeError', () => {
      const tree = ChunkedProofTree.build(3, (s, e) => leaves(3).slice(s, e), 2);
      assert.throws(() => tree.inclusionProof(3), RangeError);
      assert.throws(() => tree.consistencyProof(4), RangeError);
    });
  });

  describe('when the chunk size is not a power of two', () => {
    it('throws a RangeError', () => {
      assert.throws(() => ChunkedProofTree.build(3, () => [], 3), RangeError);
    });
  });
});
