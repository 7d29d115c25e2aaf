import { LRUCache } from 'lru-cache';
import type { VerifiedToken } from './types.js';

export interface TokenCacheOptions {
  /** Most tokens held; 0 disables the cache. The bound is per cache, i.e. per issuer. */
  readonly maxEntries: number;
  /** Clock in epoch milliseconds (tests). */
  readonly now?: () => number;
  /** Called on every lookup, for metrics. */
  readonly onLookup?: (hit: boolean) => void;
}

interface Entry {
  readonly token: VerifiedToken;
  /** Revision of the key set the token was verified with. */
  readonly keyRevision: number;
}


/**
 * Verified tokens by their exact text, so a hit skips the signature check. An entry is
 * served only while the token has not expired and while its issuer's key set is still the
 * revision it was verified with. The revision check makes a missed clear() harmless, and
 * covers a verification that started before a key change and finished after it.
 * clear() (on key change) frees the memory at once.
 */
export class TokenCache {
  readonly #lru: LRUCache<string, Entry> | undefined;
  readonly #now: () => number;
  readonly #onLookup: ((hit: boolean) => void) | undefined;
  #hits = 0;
  #misses = 0;

  constructor(options: TokenCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) throw new TypeError('token cache maxEntries must be a non-negative integer');
    // No LRU TTL: expiry is checked on every hit (an expired entry is deleted then), and a TTL
    // makes every lookup read the clock twice. Expired entries otherwise age out by LRU order.
    this.#lru = options.maxEntries > 0 ? new LRUCache<string, Entry>({ max: options.maxEntries }) : undefined;
    this.#now = options.now ?? Date.now;
    this.#onLookup = options.onLookup;
  }

  /** The cached token when still valid under the current key set revision, else undefined. */
  get(token: string, keyRevision: number | undefined): VerifiedToken | undefined {
    const entry = this.#lru?.get(token);
    let hit: VerifiedToken | undefined;
    if (entry !== undefined) {
      if (entry.keyRevision === keyRevision && entry.token.expiresAt * 1000 > this.#now()) hit = entry.token;
      else this.#lru!.delete(token);
    }
    if (hit !== undefined) this.#hits++;
    else this.#misses++;
    this.#onLookup?.(hit !== undefined);
    return hit;
  }

  set(token: string, verified: VerifiedToken, keyRevision: number): void {
    if (this.#lru === undefined) return;
    const ttl = verified.expiresAt * 1000 - this.#now();
    if (!(ttl > 0)) return;
    this.#lru.set(token, { token: verified, keyRevision });
  }

  /** Drops every entry whose token matches (e.g. a newly revoked jti or subject). */
  evictWhere(predicate: (token: VerifiedToken) => boolean): void {
    if (this.#lru === undefined) return;
    for (const [key, entry] of this.#lru.entries()) if (predicate(entry.token)) this.#lru.delete(key);
  }

  clear(): void {
    this.#lru?.clear();
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  get hits(): number {
    return this.#hits;
  }

  get misses(): number {
    return this.#misses;
  }
}
