import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { deepFreeze } from '../shared/index.js';
import { verifiedTokenOf } from './claims.js';
import { segmentText } from './compact.js';
import { TokenError, type TokenErrorCode } from './errors.js';
import type { VerifiedToken } from './types.js';

export interface TokenCacheOptions {
  /** Most tokens held; 0 disables the cache. The bound is per cache, i.e. per issuer. */
  readonly maxEntries: number;
  /** Clock in epoch milliseconds (tests). */
  readonly now?: () => number;
}

/**
 * What is held per token: no claims at all. A hit has the token text in hand, and its payload
 * segment is exactly the claims that were verified (the key is the digest of that very text),
 * so they are read back from it. Claims held as JSON text cost ~270 bytes more per entry than
 * this, objects about three times that: at 10⁵ cached tokens the difference is tens of MiB.
 */
interface Entry {
  readonly issuerName: string;
  readonly expiresAt: number;
  /** Revision of the key set the token was verified with. */
  readonly keyRevision: number;
}

/** Parsed tokens kept for the most recently used entries, so a busy caller costs no parse and no digest. */
const HOT_ENTRIES = 1024;

/** Refused tokens remembered (by digest), so a client retrying a bad token costs no signature check. */
const REFUSED_ENTRIES = 1024;

/**
 * Refusals that stay true for the same token text while the key set stays the same: what
 * the signature and the claims decided. Not remembered: a missing or unknown key (a reload
 * may bring it), not-yet-valid and future `iat` (time fixes them), and anything decided before
 * the signature (as cheap to decide again as to look up).
 */
const LASTING_REFUSALS: ReadonlySet<TokenErrorCode> = new Set<TokenErrorCode>([
  'token_signature_invalid',
  'token_expired',
  'token_issuer_invalid',
  'token_audience_invalid',
  'token_claims_invalid',
]);

interface Refusal {
  readonly code: TokenErrorCode;
  readonly message: string;
  readonly keyRevision: number;
}

/** A parsed token in the hot tier, with what decides whether it may still be served. */
interface HotEntry {
  readonly token: VerifiedToken;
  readonly keyRevision: number;
}

/**
 * Verified tokens, so a hit skips the signature check. An entry is served only while the
 * token has not expired and while its issuer's key set is still the revision it was verified
 * with. The revision check makes a missed clear() harmless, and covers a verification that
 * started before a key change and finished after it. clear() (on key change) frees the
 * memory at once.
 *
 * Two tiers:
 * - every entry, bounded by maxEntries, by the SHA-256 of the token's exact text. The digest
 *   (32 bytes) is the key rather than the token (hundreds): collision resistance means a
 *   different text can never find another token's entry. It holds the expiry and key set
 *   revision only; the claims are decoded again from the token's payload segment on a hit;
 * - the parsed VerifiedToken of the most recently used ones, by the token text itself: an
 *   exact string match, which costs less than the digest (a hot hit computes none). A token
 *   enters it on its second use; a hit outside it parses the text again.
 */
export class TokenCache {
  readonly #lru: LRUCache<string, Entry> | undefined;
  readonly #hot: LRUCache<string, HotEntry> | undefined;
  readonly #refused: LRUCache<string, Refusal> | undefined;
  readonly #now: () => number;
  #hits = 0;
  #misses = 0;
  /** The last digest computed: a miss is looked up, verified, then stored, and needs one. */
  #digestOf: string | undefined;
  #digest = '';

  constructor(options: TokenCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) throw new TypeError('token cache maxEntries must be a non-negative integer');
    // No LRU TTL: expiry is checked on every hit (an expired entry is deleted then), and a TTL
    // makes every lookup read the clock twice. Expired entries otherwise age out by LRU order.
    if (options.maxEntries > 0) {
      this.#lru = new LRUCache<string, Entry>({ max: options.maxEntries });
      this.#hot = new LRUCache<string, HotEntry>({ max: Math.min(options.maxEntries, HOT_ENTRIES) });
      this.#refused = new LRUCache<string, Refusal>({ max: Math.min(options.maxEntries, REFUSED_ENTRIES) });
    }
    this.#now = options.now ?? Date.now;
  }

  /** The cached token when still valid under the current key set revision, else undefined. */
  get(token: string, keyRevision: number | undefined): VerifiedToken | undefined {
    const hit = this.#lru === undefined ? undefined : this.#find(token, keyRevision);
    if (hit !== undefined) this.#hits++;
    else this.#misses++;
    return hit;
  }

  #find(token: string, keyRevision: number | undefined): VerifiedToken | undefined {
    const now = this.#now();
    const hot = this.#hot!.get(token);
    if (hot !== undefined) {
      if (hot.keyRevision === keyRevision && hot.token.expiresAt * 1000 > now) return hot.token;
      // Its entry in the other tier has the same revision and expiry: both go.
      this.#hot!.delete(token);
    }
    const key = this.#keyOf(token);
    const entry = this.#lru!.get(key);
    if (entry === undefined) return undefined;
    if (entry.keyRevision !== keyRevision || entry.expiresAt * 1000 <= now) {
      this.#lru!.delete(key);
      return undefined;
    }
    const parsed = revive(token, entry);
    this.#hot!.set(token, { token: parsed, keyRevision: entry.keyRevision });
    return parsed;
  }

  set(token: string, verified: VerifiedToken, keyRevision: number): void {
    if (this.#lru === undefined) return;
    const ttl = verified.expiresAt * 1000 - this.#now();
    if (!(ttl > 0)) return;
    this.#lru.set(this.#keyOf(token), { issuerName: verified.issuerName, expiresAt: verified.expiresAt, keyRevision });
    // Not into the parsed tier yet: a token seen once (a flood of fresh tokens) would only
    // churn it; a second use revives it there.
    this.#hot!.delete(token);
  }

  #keyOf(token: string): string {
    if (token !== this.#digestOf) {
      this.#digest = tokenKey(token);
      this.#digestOf = token;
    }
    return this.#digest;
  }

  /**
   * Drops every entry of the parsed tier whose token matches (e.g. a newly revoked jti or
   * subject), and its digest entry. Entries held only by digest cannot be inspected (no claims
   * are kept): a revoked one is refused on every use by the revocation check that follows
   * each cache hit, and ages out by LRU order or expiry.
   */
  evictWhere(predicate: (token: VerifiedToken) => boolean): void {
    if (this.#lru === undefined) return;
    for (const [token, hot] of this.#hot!.entries()) {
      if (!predicate(hot.token)) continue;
      this.#hot!.delete(token);
      this.#lru.delete(this.#keyOf(token));
    }
  }

  /**
   * Remembers that the verifier refused this exact token under this key set revision, when
   * the reason is a lasting one (LASTING_REFUSALS); anything else is ignored.
   */
  refuse(token: string, error: TokenError, keyRevision: number): void {
    if (this.#refused === undefined || !LASTING_REFUSALS.has(error.code)) return;
    this.#refused.set(this.#keyOf(token), Object.freeze({ code: error.code, message: error.message, keyRevision }));
  }

  /** The refusal remembered for this token under the current key set revision: a new TokenError with the same code. */
  refusal(token: string, keyRevision: number | undefined): TokenError | undefined {
    const refused = this.#refused?.get(this.#keyOf(token));
    if (refused === undefined || refused.keyRevision !== keyRevision) return undefined;
    return new TokenError(refused.code, refused.message);
  }

  clear(): void {
    this.#refused?.clear();
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

/**
 * The VerifiedToken of a token whose digest entry was found: its payload segment is the exact
 * text that was verified (strict JSON, no duplicate members), so plain JSON.parse gives the
 * object the verifier had and cannot fail.
 */
function revive(token: string, entry: Entry): VerifiedToken {
  const start = token.indexOf('.') + 1;
  const payload = token.slice(start, token.indexOf('.', start));
  const claims = JSON.parse(segmentText(payload)) as Record<string, unknown>;
  return verifiedTokenOf(entry.issuerName, deepFreeze(claims), entry.expiresAt);
}
