/**
 * RFC 9162 inclusion and consistency proofs for an export, in memory that does not grow with the
 * log's entries one for one: only the roots of complete chunks of `chunkSize` leaves (and the tree
 * levels above them) are kept, plus the leaves of one chunk at a time, read back on demand.
 *
 * Why this works: in the RFC 9162 §2.1.1 recursion every subtree `D[s : s+n]` starts at a multiple
 * of the smallest power of two >= n, so a subtree of at most `chunkSize` leaves never straddles a
 * chunk boundary, and a proof's siblings are either whole chunks, aligned groups of whole chunks
 * (the kept levels), or the one partial chunk at the right edge. With 1024-leaf chunks a million
 * entries need about 1000 kept hashes instead of two million.
 */
import { MerkleTree, emptyRoot, hashChildren } from '../merkle.ts';

/** Reads leaf hashes `[start, end)` in index order (from the audit table's entry_hash column). */
export type LeafReader = (start: number, end: number) => Uint8Array[];

export const DEFAULT_CHUNK_SIZE = 1024;

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** The largest power of two strictly smaller than n (n >= 2): RFC 9162 §2.1.1's `k`. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function complete(tree: ChunkedProofTree): number {
  return Math.floor(tree.size / tree.chunkSize);
}

export class ChunkedProofTree {
  readonly size: number;
  readonly chunkSize: number;
  private readonly readLeaves: LeafReader;
  /** levels[0][c] = root of complete chunk c; levels[j][i] = root of chunks [i*2^j, (i+1)*2^j). */
  private readonly levels: Uint8Array[][] = [[]];
  private readonly edgeMemo = new Map<string, Uint8Array>();
  /** Root of the partial last chunk, kept so proofs elsewhere do not evict the cached chunk. */
  private partialRoot: Uint8Array | undefined;
  private cachedChunk: { index: number; tree: MerkleTree } | undefined;

  private constructor(size: number, chunkSize: number, readLeaves: LeafReader) {
    this.size = size;
    this.chunkSize = chunkSize;
    this.readLeaves = readLeaves;
  }

  /**
   * Reads every leaf hash of the tree of `size` once, chunk by chunk, keeping only chunk roots.
   * `chunkSize` must be a power of two.
   */
  static build(size: number, readLeaves: LeafReader, chunkSize = DEFAULT_CHUNK_SIZE): ChunkedProofTree {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad tree size ${size}`);
    if (!isPowerOfTwo(chunkSize)) throw new RangeError('chunk size must be a power of two');
    const tree = new ChunkedProofTree(size, chunkSize, readLeaves);
    const complete = Math.floor(size / chunkSize);
    for (let c = 0; c < complete; c++) tree.pushChunkRoot(tree.chunkTree(c).root());
    if (size % chunkSize !== 0) tree.partialRoot = tree.chunkTree(complete).root();
    return tree;
  }

  private pushChunkRoot(root: Uint8Array): void {
    let node = root;
    for (let j = 0; ; j++) {
      let level = this.levels[j];
      if (level === undefined) {
        level = [];
        this.levels[j] = level;
      }
      level.push(node);
      if (level.length % 2 === 1) return;
      const left = level[level.length - 2];
      if (left === undefined) return;
      node = hashChildren(left, node);
    }
  }

  /** The Merkle tree of one chunk's leaves (the last chunk may be partial); one chunk is cached. */
  private chunkTree(c: number): MerkleTree {
    if (this.cachedChunk?.index === c) return this.cachedChunk.tree;
    const start = c * this.chunkSize;
    const end = Math.min(start + this.chunkSize, this.size);
    const leaves = this.readLeaves(start, end);
    if (leaves.length !== end - start) {
      throw new RangeError(`expected ${end - start} leaf hashes from ${start}, got ${leaves.length}`);
    }
    const tree = MerkleTree.fromLeafHashes(leaves);
    this.cachedChunk = { index: c, tree };
    return tree;
  }

  private chunkOf(i: number): number {
    return Math.floor(i / this.chunkSize);
  }

  /** MTH(D[s : s+n]) (RFC 9162 §2.1.1), n >= 1. */
  private hash(s: number, n: number): Uint8Array {
    const c = this.chunkOf(s);
    if (c === this.chunkOf(s + n - 1)) {
      const chunkStart = c * this.chunkSize;
      const chunkEnd = Math.min(chunkStart + this.chunkSize, this.size);
      if (s === chunkStart && s + n === chunkEnd) {
        const kept = this.levels[0]?.[c] ?? (c === complete(this) ? this.partialRoot : undefined);
        return kept ?? this.chunkTree(c).root();
      }
      // A piece inside a chunk (consistency proofs only): hash it from its leaves.
      return MerkleTree.fromLeafHashes(this.readLeaves(s, s + n)).root();
    }
    if (isPowerOfTwo(n) && s % n === 0) {
      const j = Math.log2(n / this.chunkSize);
      const kept = this.levels[j]?.[s / n];
      if (kept !== undefined) return kept;
    }
    const key = `${s}:${n}`;
    const memo = this.edgeMemo.get(key);
    if (memo !== undefined) return memo;
    const k = splitPoint(n);
    const h = hashChildren(this.hash(s, k), this.hash(s + k, n - k));
    // Only right-edge pieces (not powers of two) get here: at most log2(size) of them.
    this.edgeMemo.set(key, h);
    return h;
  }

  root(): Uint8Array {
    return this.size === 0 ? emptyRoot() : this.hash(0, this.size);
  }

  /** PATH(m, D[0:size]) (RFC 9162 §2.1.3.1); the same hashes MerkleTree.inclusionProof returns. */
  inclusionProof(index: number): Uint8Array[] {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`leaf ${index} is not in a tree of ${this.size}`);
    }
    const out: Uint8Array[] = [];
    this.path(index, 0, this.size, out);
    return out;
  }

  private path(m: number, s: number, n: number, out: Uint8Array[]): void {
    const c = this.chunkOf(s);
    if (c === this.chunkOf(s + n - 1) && s === c * this.chunkSize) {
      // The piece is a whole chunk (see the module comment): its own tree gives the lower path.
      out.push(...this.chunkTree(c).inclusionProof(m - s, n));
      return;
    }
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < s + k) {
      this.path(m, s, k, out);
      out.push(this.hash(s + k, n - k));
    } else {
      this.path(m, s + k, n - k, out);
      out.push(this.hash(s, k));
    }
  }

  /** PROOF(size1, D[0:size]) (RFC 9162 §2.1.4.1). */
  consistencyProof(size1: number): Uint8Array[] {
    if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > this.size) {
      throw new RangeError(`no consistency proof from ${size1} to ${this.size}`);
    }
    const out: Uint8Array[] = [];
    if (size1 === 0 || size1 === this.size) return out;
    this.subproof(size1, 0, this.size, true, out);
    return out;
  }

  private subproof(m: number, s: number, n: number, b: boolean, out: Uint8Array[]): void {
    if (m === n) {
      if (!b) out.push(this.hash(s, n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.subproof(m, s, k, b, out);
      out.push(this.hash(s + k, n - k));
    } else {
      this.subproof(m - k, s + k, n - k, false, out);
      out.push(this.hash(s, k));
    }
  }
}
