import { hash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { TokenError, type TokenErrorCode } from './errors.js';
import type { VerifiedToken } from './types.js';

export interface IntrospectionCacheOptions {
  /** Most answers held (active and inactive together); 0 disables the cache (single-flight still applies). */
  readonly maxEntries: number;
  /** Epoch milliseconds (tests). */
  readonly now?: () => number;
}

type Entry =
  | { readonly token: VerifiedToken; readonly until: number }
  | { readonly refusal: { readonly code: TokenErrorCode; readonly message: string }; readonly until: number };

/**
 * Introspection answers by a keyed hash of the token: SHA-256 over a random 32-byte key made
 * at start, then the token. An entry's key cannot be turned back into the token, nor
 * computed from a token without the key (which never leaves this object), so neither a heap
 * dump's keys nor anything logged from them can be replayed; the digest is never exposed, so
 * a secret prefix is as good a MAC here as HMAC, at a third of its cost (~1.6 µs against
 * ~4.8 µs per Check, measured on the 2-core machine).
 *
 * Active answers are held until the caller's `until` (min of the token's `exp` and the
 * configured maximum), refusals (inactive, wrong audience…) for the short negative time.
 * `load` runs at most once at a time per token: concurrent Checks carrying a token not yet
 * known share one call (single-flight), and its outcome is stored before they resume.
 */
export class IntrospectionCache {
  readonly #lru: LRUCache<string, Entry> | undefined;
  readonly #inflight = new Map<string, Promise<VerifiedToken>>();
  readonly #secret = randomBytes(32).toString('latin1');
  readonly #now: () => number;
  #hits = 0;
  #misses = 0;

  constructor(options: IntrospectionCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) throw new TypeError('introspection cache maxEntries must be a non-negative integer');
    if (options.maxEntries > 0) this.#lru = new LRUCache<string, Entry>({ max: options.maxEntries });
    this.#now = options.now ?? Date.now;
  }

  /**
   * The cached answer (a token, or a remembered refusal thrown as TokenError); else the
   * in-flight call for this token; else `load`'s. `load` resolves the token and when to forget
   * it, or rejects: a TokenError with `negativeUntil` set is remembered until then, anything
   * else (the endpoint failing) is not remembered at all.
   */
  get(token: string, load: () => Promise<{ token: VerifiedToken; until: number }>): VerifiedToken | Promise<VerifiedToken> {
    const key = hash('sha256', this.#secret + token, 'binary');
    const entry = this.#lru?.get(key);
    if (entry !== undefined) {
      if (entry.until > this.#now()) {
        this.#hits++;
        if ('token' in entry) return entry.token;
        throw new TokenError(entry.refusal.code, entry.refusal.message);
      }
      this.#lru!.delete(key);
    }
    this.#misses++;
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending;
    const call = load().then(
      (loaded) => {
        if (loaded.until > this.#now()) this.#lru?.set(key, { token: loaded.token, until: loaded.until });
        return loaded.token;
      },
      (error: unknown) => {
        if (error instanceof NegativeAnswer) {
          this.#lru?.set(key, { refusal: { code: error.refusal.code, message: error.refusal.message }, until: error.until });
          throw error.refusal;
        }
        throw error;
      },
    );
    const shared = call.finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, shared);
    return shared;
  }

  /** Drops every active answer whose token matches (a new revocation); refusals stay. */
  evictWhere(predicate: (token: VerifiedToken) => boolean): void {
    if (this.#lru === undefined) return;
    for (const [key, entry] of this.#lru.entries()) if ('token' in entry && predicate(entry.token)) this.#lru.delete(key);
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

/** A lasting refusal from `load`, to be remembered until `until` (epoch ms) and thrown as `refusal`. */
export class NegativeAnswer extends Error {
  constructor(
    readonly refusal: TokenError,
    readonly until: number,
  ) {
    super(refusal.message);
  }
}
