/**
 * A cache of ALLOW decisions, so a warm verification costs one manifest fetch. It cannot become a
 * bypass: the key binds the resolved digest, the content hash of every selected policy and the
 * trust version (keys and trust roots), so any change to what was trusted misses; denials are
 * never cached (a fixed signature is seen at once); entries expire after a TTL. A cached answer
 * is still audited, marked as cached.
 */
export interface DecisionCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

export interface CacheStats {
  hits: number;
  misses: number;
}

export class DecisionCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(options: DecisionCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  static key(digest: string, policyHashes: readonly string[], trustVersion: string): string {
    return JSON.stringify([digest, [...policyHashes].sort(), trustVersion]);
  }

  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined || hit.expires <= this.#now()) {
      if (hit !== undefined) this.#entries.delete(key);
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return hit.value;
  }

  /** Stores an allow. The caller passes only successes; the oldest entry goes when full. */
  set(key: string, value: V): void {
    if (this.#ttlMs <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.#now() + this.#ttlMs });
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
