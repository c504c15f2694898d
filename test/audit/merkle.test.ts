import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MerkleTree,
  emptyRoot,
  hashChildren,
  hashLeaf,
  rootFromInclusionProof,
  rootOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle.ts';

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// RFC 6962 reference vectors, as used by transparency-dev/merkle proof/verify_test.go and
// certificate-transparency-go: eight leaves, the roots of the trees of size 1..8, and known proofs.
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hex);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// leaf is 1-based in the reference vectors.
const INCLUSION = [
  { leaf: 1, size: 1, proof: [] },
  {
    leaf: 1,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leaf: 6,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { leaf: 3, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    leaf: 2,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CONSISTENCY = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

/** MTH straight from the RFC 9162 §2.1.1 definition, to cross-check the level table. */
function referenceRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return new Uint8Array(createHash('sha256').digest());
  if (leafHashes.length === 1) return leafHashes[0]!;
  let k = 1;
  while (k * 2 < leafHashes.length) k *= 2;
  return hashChildren(referenceRoot(leafHashes.slice(0, k)), referenceRoot(leafHashes.slice(k)));
}

function flipBit(proof: readonly Uint8Array[], i: number): Uint8Array[] {
  return proof.map((p, j) => {
    if (j !== i) return p;
    const copy = new Uint8Array(p);
    copy[0] = copy[0]! ^ 0x10;
    return copy;
  });
}

const vectorTree = MerkleTree.fromLeafHashes(LEAVES.map(hashLeaf));

describe('merkle', () => {
  describe('when hashing the RFC 6962 reference leaves', () => {
    it('gives the reference root for every size from 1 to 8', () => {
      for (let n = 1; n <= 8; n++) {
        assert.equal(toHex(vectorTree.root(n)), ROOTS[n - 1], `root of ${n}`);
        assert.equal(toHex(rootOfLeaves(LEAVES.slice(0, n))), ROOTS[n - 1]);
      }
    });

    it('gives SHA-256 of nothing for the empty tree', () => {
      assert.equal(toHex(emptyRoot()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      assert.equal(toHex(new MerkleTree().root()), toHex(emptyRoot()));
    });
  });

  describe('when generating inclusion proofs', () => {
    it('reproduces the reference proofs', () => {
      for (const v of INCLUSION) {
        assert.deepEqual(
          vectorTree.inclusionProof(v.leaf - 1, v.size).map(toHex),
          v.proof,
          `${v.leaf}@${v.size}`,
        );
      }
    });

    it('refuses a leaf outside the tree', () => {
      assert.throws(() => vectorTree.inclusionProof(3, 3), RangeError);
      assert.throws(() => vectorTree.inclusionProof(0, 9), RangeError);
    });
  });

  describe('when verifying inclusion proofs', () => {
    for (const v of INCLUSION) {
      const leafHash = hashLeaf(LEAVES[v.leaf - 1]!);
      const root = hex(ROOTS[v.size - 1]!);
      const proof = v.proof.map(hex);

      it(`accepts the reference proof of leaf ${v.leaf} in ${v.size}`, () => {
        assert.equal(verifyInclusion(v.leaf - 1, v.size, leafHash, proof, root), true);
        assert.equal(toHex(rootFromInclusionProof(v.leaf - 1, v.size, leafHash, proof)!), ROOTS[v.size - 1]);
      });

      it(`rejects corrupted variants of the proof of leaf ${v.leaf} in ${v.size}`, () => {
        const idx = v.leaf - 1;
        const wrong: [number, number, Uint8Array, Uint8Array[], Uint8Array][] = [
          [idx - 1, v.size, leafHash, proof, root],
          [idx + 1, v.size, leafHash, proof, root],
          [idx ^ 2, v.size, leafHash, proof, root],
          [idx, v.size * 2, leafHash, proof, root],
          [idx, Math.floor(v.size / 2), leafHash, proof, root],
          [idx, v.size, hashLeaf(new TextEncoder().encode('WrongLeaf')), proof, root],
          [idx, v.size, leafHash, proof, emptyRoot()],
          [idx, v.size, leafHash, [...proof, root], root],
          [idx, v.size, leafHash, [root, ...proof], root],
        ];
        for (let i = 0; i < proof.length; i++) wrong.push([idx, v.size, leafHash, flipBit(proof, i), root]);
        if (proof.length > 0) wrong.push([idx, v.size, leafHash, proof.slice(0, -1), root]);
        for (const [i, n, l, p, r] of wrong) {
          assert.equal(verifyInclusion(i, n, l, p, r), false, `index ${i} size ${n} proof ${p.length}`);
        }
      });
    }
  });

  describe('when generating consistency proofs', () => {
    it('reproduces the reference proofs', () => {
      for (const v of CONSISTENCY) {
        assert.deepEqual(
          vectorTree.consistencyProof(v.size1, v.size2).map(toHex),
          v.proof,
          `${v.size1}->${v.size2}`,
        );
      }
    });
  });

  describe('when verifying consistency proofs', () => {
    for (const v of CONSISTENCY) {
      const r1 = hex(ROOTS[v.size1 - 1]!);
      const r2 = hex(ROOTS[v.size2 - 1]!);
      const proof = v.proof.map(hex);

      it(`accepts the reference proof ${v.size1} -> ${v.size2}`, () => {
        assert.equal(verifyConsistency(v.size1, v.size2, proof, r1, r2), true);
      });

      if (proof.length > 0) {
        it(`rejects corrupted variants of the proof ${v.size1} -> ${v.size2}`, () => {
          const wrong: [number, number, Uint8Array[], Uint8Array, Uint8Array][] = [
            [v.size1 - 1, v.size2, proof, r1, r2],
            [v.size1 + 1, v.size2, proof, r1, r2],
            [v.size1 ^ 2, v.size2, proof, r1, r2],
            [v.size1, v.size2 * 2, proof, r1, r2],
            [v.size1, Math.floor(v.size2 / 2), proof, r1, r2],
            [v.size1, v.size2, proof, emptyRoot(), r2],
            [v.size1, v.size2, proof, r1, emptyRoot()],
            [v.size1, v.size2, proof, r2, r1],
            [v.size1, v.size2, [], r1, r2],
            [v.size1, v.size2, [...proof, r1], r1, r2],
            [v.size1, v.size2, [...proof, r2], r1, r2],
            [v.size1, v.size2, [r1, ...proof], r1, r2],
            [v.size1, v.size2, [r2, ...proof], r1, r2],
            [v.size1, v.size2, [proof[0]!, ...proof], r1, r2],
            [v.size1, v.size2, proof.slice(0, -1), r1, r2],
          ];
          for (let i = 0; i < proof.length; i++) wrong.push([v.size1, v.size2, flipBit(proof, i), r1, r2]);
          for (const [s1, s2, p, a, b] of wrong) {
            assert.equal(verifyConsistency(s1, s2, p, a, b), false, `${s1}->${s2} proof ${p.length}`);
          }
        });
      }
    }

    it('accepts only the trivially consistent edge cases', () => {
      const r = emptyRoot();
      const other = hashLeaf(new Uint8Array([1]));
      assert.equal(verifyConsistency(0, 0, [], r, r), true);
      assert.equal(verifyConsistency(0, 5, [], other, r), true);
      assert.equal(verifyConsistency(1, 1, [], other, other), true);
      assert.equal(verifyConsistency(1, 1, [], r, other), false);
      assert.equal(verifyConsistency(0, 1, [r], r, r), false);
      assert.equal(verifyConsistency(1, 0, [], r, other), false);
      assert.equal(verifyConsistency(1, 2, [], r, other), false);
    });
  });

  describe('when cross-checking random trees up to 64 leaves', () => {
    const leafHashes = Array.from({ length: 64 }, () => hashLeaf(randomBytes(16)));
    const tree = MerkleTree.fromLeafHashes(leafHashes);
    const roots = Array.from({ length: 65 }, (_, n) => referenceRoot(leafHashes.slice(0, n)));

    it('matches the definition of MTH at every size', () => {
      for (let n = 0; n <= 64; n++) assert.equal(toHex(tree.root(n)), toHex(roots[n]!), `size ${n}`);
    });

    it('verifies every inclusion proof of every leaf at every size', () => {
      for (let n = 1; n <= 64; n++) {
        for (let i = 0; i < n; i++) {
          assert.equal(
            verifyInclusion(i, n, leafHashes[i]!, tree.inclusionProof(i, n), roots[n]!),
            true,
            `${i}@${n}`,
          );
        }
      }
    });

    it('verifies the consistency proof between every pair of sizes and rejects it against another root', () => {
      for (let n = 1; n <= 64; n++) {
        for (let m = 1; m <= n; m++) {
          const proof = tree.consistencyProof(m, n);
          assert.equal(verifyConsistency(m, n, proof, roots[m]!, roots[n]!), true, `${m}->${n}`);
          if (m < n) {
            assert.equal(
              verifyConsistency(m, n, proof, roots[m - 1]!, roots[n]!),
              false,
              `${m}->${n} bad root1`,
            );
            assert.equal(
              verifyConsistency(m, n, proof, roots[m]!, roots[n - 1]!),
              false,
              `${m}->${n} bad root2`,
            );
          }
        }
      }
    });
  });

  describe('when a tree is truncated and appended to again', () => {
    it('gives the same roots and proofs as a tree built directly', () => {
      const hashes = Array.from({ length: 40 }, (_, i) => hashLeaf(new Uint8Array([i])));
      const other = Array.from({ length: 10 }, (_, i) => hashLeaf(new Uint8Array([100 + i])));
      const tree = MerkleTree.fromLeafHashes(hashes);
      const early = tree.inclusionProof(5, 33);
      tree.truncate(30);
      for (const h of other) tree.append(h);
      const direct = MerkleTree.fromLeafHashes([...hashes.slice(0, 30), ...other]);
      assert.equal(tree.size, 40);
      assert.equal(toHex(tree.root()), toHex(direct.root()));
      assert.deepEqual(tree.consistencyProof(17, 40).map(toHex), direct.consistencyProof(17, 40).map(toHex));
      // Proofs handed out earlier are copies, not views that the rewrite changes.
      assert.deepEqual(early.map(toHex), MerkleTree.fromLeafHashes(hashes).inclusionProof(5, 33).map(toHex));
    });
  });
});
