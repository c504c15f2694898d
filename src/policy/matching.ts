/**
 * Assigning signing identities to signers: a maximum bipartite matching (each identity counts for at
 * most one signer, each signer needs one identity), found with augmenting paths (Kuhn's algorithm).
 *
 * Required signers are augmented first. Augmenting never unmatches a matched signer, and a signer
 * with no augmenting path never gains one later (Kuhn's lemma), so:
 * 1. after the first phase the matched required signers are as many as any matching can cover;
 * 2. after the second phase the matching is maximum overall, still covering those required signers.
 * Hence if some matching covers every required signer and reaches the threshold, this one does.
 * Signers and identities are processed in sorted order so the result does not depend on the order
 * signatures were discovered in.
 */

export interface MatchingInput {
  /** Signer names; unique. */
  readonly signers: readonly string[];
  readonly required: ReadonlySet<string>;
  /** For each signer, the identity keys that verified for it. */
  readonly edges: ReadonlyMap<string, ReadonlySet<string>>;
}

/** signer name → identity key, for the matched signers only. */
export type Matching = ReadonlyMap<string, string>;

export function maximumMatching(input: MatchingInput): Matching {
  const bySigner = new Map<string, readonly string[]>();
  for (const s of input.signers) bySigner.set(s, [...(input.edges.get(s) ?? [])].sort());
  const signerOf = new Map<string, string>(); // identity → signer
  const identityOf = new Map<string, string>(); // signer → identity

  const augment = (signer: string, seen: Set<string>): boolean => {
    for (const identity of bySigner.get(signer) ?? []) {
      if (seen.has(identity)) continue;
      seen.add(identity);
      const holder = signerOf.get(identity);
      if (holder === undefined || augment(holder, seen)) {
        signerOf.set(identity, signer);
        identityOf.set(signer, identity);
        return true;
      }
    }
    return false;
  };

  const sorted = [...input.signers].sort();
  const phases = [sorted.filter((s) => input.required.has(s)), sorted.filter((s) => !input.required.has(s))];
  for (const phase of phases) {
    for (const signer of phase) augment(signer, new Set());
  }
  return identityOf;
}
