import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { deepFreeze, verifiedTokenOf } from './claims.js';
import type { VerifiedToken } from './types.js';

export interface TokenCacheOptions {
  /** Most tokens held; 0 disables the cache. The bound is per cache, i.e. per issuer. */
  readonly maxEntries: number;
  /** Clock in epoch milliseconds (tests). */
  readonly now?: () => number;
  /** Called on every lookup, for metrics. */
  readonly onLookup?: (hit: boolean) => void;
}

/**
 * What is held per token: the claims as JSON text rather than objects. A parsed token (claims
 * object, audience and scope arrays, and the identity headers memoised for it) costs about
 * three times as much heap, which matters at 10⁵ cached tokens.
 */
interface Entry {
  readonly claims: string;
  readonly issuerName: string;
  readonly expiresAt: number;
  /** Revision of the key set the token was verified with. */
  readonly keyRevision: number;
}

/** Parsed tokens kept for the most recently used entries, so a busy caller costs no parse. */
const HOT_ENTRIES = 1024;

/**
 * Verified tokens by the SHA-256 of their exact text, so a hit skips the signature check.
 * The digest (32 bytes) is the key rather than the token (hundreds): collision resistance
 * means a different text can never find another token's entry. An entry is served only while
 * the token has not expired and while its issuer's key set is still the revision it was
 * verified with. The revision check makes a missed clear() harmless, and covers a
 * verification that started before a key change and finished after it. clear() (on key
 * change) frees the memory at once.
 *
 * Two tiers: every entry as compact claims text (bounded by maxEntries), and the parsed
 * VerifiedToken for the most recent ones; a hit outside the hot tier parses the text again.
 */
export class TokenCache {
  readonly #lru: LRUCache<string, Entry> | undefined;
  readonly #hot: LRUCache<string, VerifiedToken> | undefined;
  readonly #now: () => number;
  readonly #onLookup: ((hit: boolean) => void) | undefined;
  #hits = 0;
  #misses = 0;

  constructor(options: TokenCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) throw new TypeError('token cache maxEntries must be a non-negative integer');
    // No LRU TTL: expiry is checked on every hit (an expired entry is deleted then), and a TTL
    // makes every lookup read the clock twice. Expired entries otherwise age out by LRU order.
    if (options.maxEntries > 0) {
      this.#lru = new LRUCache<string, Entry>({ max: options.maxEntries });
      this.#hot = new LRUCache<string, VerifiedToken>({ max: Math.min(options.maxEntries, HOT_ENTRIES) });
    }
    this.#now = options.now ?? Date.now;
    this.#onLookup = options.onLookup;
  }

  /** The cached token when still valid under the current key set revision, else undefined. */
  get(token: string, keyRevision: number | undefined, key = tokenKey(token)): VerifiedToken | undefined {
    let hit: VerifiedToken | undefined;
    if (this.#lru !== undefined) {
      const entry = this.#lru.get(key);
      if (entry !== undefined) {
        if (entry.keyRevision === keyRevision && entry.expiresAt * 1000 > this.#now()) hit = this.#hot!.get(key) ?? this.#revive(key, entry);
        else this.#delete(key);
      }
    }
    if (hit !== undefined) this.#hits++;
    else this.#misses++;
    this.#onLookup?.(hit !== undefined);
    return hit;
  }

  /** `key` is tokenKey(token), passed when the caller already has it (one hash per token per Check). */
  set(token: string, verified: VerifiedToken, keyRevision: number, key = tokenKey(token)): void {
    if (this.#lru === undefined) return;
    const ttl = verified.expiresAt * 1000 - this.#now();
    if (!(ttl > 0)) return;
    this.#lru.set(key, { claims: JSON.stringify(verified.claims), issuerName: verified.issuerName, expiresAt: verified.expiresAt, keyRevision });
    // Not into the parsed tier yet: a token seen once (a flood of fresh tokens) would only
    // churn it; a second use revives it there.
    this.#hot!.delete(key);
  }

  #revive(key: string, entry: Entry): VerifiedToken {
    const token = parse(entry);
    this.#hot!.set(key, token);
    return token;
  }

  #delete(key: string): void {
    this.#lru!.delete(key);
    this.#hot!.delete(key);
  }

  /** Drops every entry whose token matches (e.g. a newly revoked jti or subject). */
  evictWhere(predicate: (token: VerifiedToken) => boolean): void {
    if (this.#lru === undefined) return;
    for (const [key, entry] of this.#lru.entries()) if (predicate(this.#hot!.peek(key) ?? parse(entry))) this.#delete(key);
  }

  clear(): void {
    this.#lru?.clear();
    this.#hot?.clear();
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

/** The cache key of a token: its SHA-256 as a 32-character one-byte string (cheap to hash and compare). */
export function tokenKey(token: string): string {
  return hash('sha256', token, 'binary');
}

/** The claims were verified and serialised by us: parsing them back cannot fail. */
function parse(entry: Entry): VerifiedToken {
  return verifiedTokenOf(entry.issuerName, deepFreeze(JSON.parse(entry.claims) as Record<string, unknown>), entry.expiresAt);
}
