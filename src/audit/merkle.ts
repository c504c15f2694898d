/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs (pure).
 *
 * Leaves are hashed `SHA-256(0x00 || data)`, interior nodes `SHA-256(0x01 || left || right)`
 * (RFC 9162 §2.1.1). The tree keeps every complete, aligned subtree hash in a level table, so
 * appending is O(log n) and any root or proof needs only O(log n) lookups plus O(log n) hashes
 * for the incomplete right edge: a proof over a million entries never rehashes the log.
 */
import { createHash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** `SHA-256(0x00 || data)`: RFC 9162 §2.1.1. */
export function hashLeaf(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LEAF_PREFIX).update(data).digest());
}

/** `SHA-256(0x01 || left || right)`: RFC 9162 §2.1.1. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest());
}

/** The root of the empty tree: `SHA-256()` of nothing (RFC 9162 §2.1.1). */
export function emptyRoot(): Uint8Array {
  return new Uint8Array(createHash('sha256').digest());
}

export function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The largest power of two strictly smaller than n (n >= 2): the split point `k` of RFC 9162 §2.1.1. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
}

/** One level of the table: hashes packed in one growable byte array (32 bytes each). */
class HashLevel {
  private bytes = new Uint8Array(HASH_SIZE * 64);
  length = 0;

  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.length * HASH_SIZE);
    this.length++;
  }

  at(i: number): Uint8Array {
    if (i < 0 || i >= this.length) throw new RangeError(`no hash at ${i}`);
    // A copy: the packed array is overwritten in place after a truncate, so views would change.
    return this.bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

/**
 * A Merkle tree held as leaf hashes plus the hashes of all complete aligned subtrees:
 * `levels[h].at(i)` is the hash of leaves `[i * 2^h, (i + 1) * 2^h)`.
 */
export class MerkleTree {
  private readonly levels: HashLevel[] = [new HashLevel()];

  /** Builds a tree from leaf hashes (not leaf data). */
  static fromLeafHashes(leafHashes: Iterable<Uint8Array>): MerkleTree {
    const tree = new MerkleTree();
    for (const h of leafHashes) tree.append(h);
    return tree;
  }

  get size(): number {
    return this.level(0).length;
  }

  private level(h: number): HashLevel {
    let level = this.levels[h];
    if (level === undefined) {
      level = new HashLevel();
      this.levels[h] = level;
    }
    return level;
  }

  /** Appends one leaf hash and completes every subtree it closes. */
  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new RangeError(`leaf hash must be ${HASH_SIZE} bytes`);
    let h = 0;
    let node = leafHash;
    for (;;) {
      const level = this.level(h);
      level.push(node);
      if (isOdd(level.length)) break;
      node = hashChildren(level.at(level.length - 2), level.at(level.length - 1));
      h++;
    }
  }

  /** Forgets every leaf from `size` on (used to roll back an append whose write failed). */
  truncate(size: number): void {
    checkSize('size', size);
    if (size > this.size) throw new RangeError(`cannot truncate a tree of ${this.size} to ${size}`);
    for (let h = 0; h < this.levels.length; h++) this.level(h).length = Math.floor(size / 2 ** h);
  }

  leafHash(index: number): Uint8Array {
    return this.level(0).at(index);
  }

  /** MTH(D[start : start + n]) (RFC 9162 §2.1.1), from the level table where the subtree is complete. */
  private subtreeHash(start: number, n: number): Uint8Array {
    if (n === 1) return this.level(0).at(start);
    if (isPowerOfTwo(n) && start % n === 0) {
      const level = this.levels[Math.log2(n)];
      if (level !== undefined && start / n < level.length) return level.at(start / n);
    }
    const k = splitPoint(n);
    return hashChildren(this.subtreeHash(start, k), this.subtreeHash(start + k, n - k));
  }

  /** The root hash of the first `size` leaves (default: all of them). */
  root(size: number = this.size): Uint8Array {
    checkSize('size', size);
    if (size > this.size) throw new RangeError(`tree has ${this.size} leaves, asked for root of ${size}`);
    if (size === 0) return emptyRoot();
    return this.subtreeHash(0, size);
  }

  /** PATH(m, D[0:size]): the inclusion proof of leaf `index` in the tree of `size` (RFC 9162 §2.1.3.1). */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    checkSize('index', index);
    checkSize('size', size);
    if (size > this.size) throw new RangeError(`tree has ${this.size} leaves, asked for a proof at ${size}`);
    if (index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
    const proof: Uint8Array[] = [];
    this.path(index, 0, size, proof);
    return proof;
  }

  private path(m: number, start: number, n: number, out: Uint8Array[]): void {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.path(m, start, k, out);
      out.push(this.subtreeHash(start + k, n - k));
    } else {
      this.path(m - k, start + k, n - k, out);
      out.push(this.subtreeHash(start, k));
    }
  }

  /** PROOF(size1, D[0:size2]): the consistency proof between two sizes (RFC 9162 §2.1.4.1). */
  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    checkSize('size1', size1);
    checkSize('size2', size2);
    if (size2 > this.size)
      throw new RangeError(`tree has ${this.size} leaves, asked for a proof to ${size2}`);
    if (size1 > size2) throw new RangeError(`size1 ${size1} is larger than size2 ${size2}`);
    const proof: Uint8Array[] = [];
    // The proof from the empty tree, or to the same size, is empty (RFC 9162 §2.1.4).
    if (size1 === 0 || size1 === size2) return proof;
    this.subproof(size1, 0, size2, true, proof);
    return proof;
  }

  private subproof(m: number, start: number, n: number, b: boolean, out: Uint8Array[]): void {
    if (m === n) {
      if (!b) out.push(this.subtreeHash(start, n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.subproof(m, start, k, b, out);
      out.push(this.subtreeHash(start + k, n - k));
    } else {
      this.subproof(m - k, start + k, n - k, false, out);
      out.push(this.subtreeHash(start, k));
    }
  }
}

/** Merkle root of leaf data items: a convenience for small trees and tests. */
export function rootOfLeaves(leaves: readonly Uint8Array[]): Uint8Array {
  return MerkleTree.fromLeafHashes(leaves.map(hashLeaf)).root();
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1-4), or undefined when the proof
 * cannot belong to a tree of that size.
 */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array | undefined {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize)) return undefined;
  if (leafIndex < 0 || leafIndex >= treeSize) return undefined;
  if (leafHash.length !== HASH_SIZE) return undefined;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (p.length !== HASH_SIZE) return undefined;
    if (sn === 0) return undefined;
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5: sn must have reached 0, else the proof is too short for this tree size.
  return sn === 0 ? r : undefined;
}

/** RFC 9162 §2.1.3.2: does `proof` show leaf `leafIndex` with `leafHash` in the tree with `root`? */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  return computed !== undefined && equalHashes(computed, root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree (size2, root2) extends the tree (size1, root1)? */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2)) return false;
  if (size1 < 0 || size2 < size1) return false;
  if (size1 === size2) return proof.length === 0 && equalHashes(root1, root2);
  // Every tree extends the empty tree; the proof is empty (RFC 9162 §2.1.4).
  if (size1 === 0) return proof.length === 0;
  // Step 1: a non-trivial proof is never empty.
  if (proof.length === 0) return false;
  if (proof.some((p) => p.length !== HASH_SIZE)) return false;
  // Step 2: when size1 is a power of two, its root is itself the first node of the path.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  // Step 3-4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  const first = path[0];
  if (first === undefined) return false;
  let fr = first;
  let sr = first;
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  return sn === 0 && equalHashes(fr, root1) && equalHashes(sr, root2);
}
