import { createHash } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { HMAC_MIN_SECRET_BYTES, isHmacAlgorithm } from './algorithms.js';
import { KeySetError } from './errors.js';

/** What jose's jwtVerify accepts: an imported public key, or HMAC secret bytes. */
export type VerificationKey = CryptoKey | Uint8Array;

/** One key of a set, imported once per algorithm it may verify. */
export interface KeyEntry {
  readonly kid: string | undefined;
  /** alg → key; holds only the algorithms this key is allowed to verify. */
  readonly byAlg: ReadonlyMap<string, VerificationKey>;
}

/**
 * An immutable set of verification keys for one issuer or trust domain. Built by
 * `parseJwks` or `createSecretKeySet`, stamped with a revision by the KeyStore that holds it.
 */
export interface KeySet {
  /** Assigned by the KeyStore, increasing with every change; 0 before a store holds the set. */
  readonly revision: number;
  /** The `kid`s of the keys that have one, in set order. */
  readonly kids: readonly string[];
  readonly size: number;
  /**
   * The key for a token's protected header, or undefined. With a `kid`, only the key with
   * that kid; without, only when exactly one key of the set can verify `alg`. Either way the
   * key must be usable with `alg` (kty/crv, and the JWK's own `alg` when it had one).
   * Header members that point elsewhere (`jku`, `x5u`, `x5c`, `jwk`) are never consulted.
   */
  select(alg: string, kid: string | undefined): VerificationKey | undefined;
  /** True when both sets hold the same keys (material, kid, algorithms), whatever their revisions. */
  sameKeysAs(other: KeySet): boolean;
  /** The same keys under another revision. */
  withRevision(revision: number): KeySet;
}

class FrozenKeySet implements KeySet {
  readonly kids: readonly string[];
  readonly #entries: readonly KeyEntry[];
  readonly #byKid: ReadonlyMap<string, KeyEntry>;
  /** Digest of the key material, for change detection only; never exposed. */
  readonly #fingerprint: string;

  constructor(
    entries: readonly KeyEntry[],
    fingerprint: string,
    readonly revision: number,
  ) {
    this.#entries = entries;
    this.#byKid = new Map(entries.filter((e) => e.kid !== undefined).map((e) => [e.kid!, e]));
    this.#fingerprint = fingerprint;
    this.kids = Object.freeze(entries.flatMap((e) => (e.kid === undefined ? [] : [e.kid])));
    Object.freeze(this);
  }

  get size(): number {
    return this.#entries.length;
  }

  select(alg: string, kid: string | undefined): VerificationKey | undefined {
    if (kid !== undefined) return this.#byKid.get(kid)?.byAlg.get(alg);
    let found: VerificationKey | undefined;
    for (const entry of this.#entries) {
      const key = entry.byAlg.get(alg);
      if (key === undefined) continue;
      // Two candidates and no kid to choose: refuse rather than try each (that would make
      // every key of the set a valid signer for kid-less tokens and multiply the work).
      if (found !== undefined) return undefined;
      found = key;
    }
    return found;
  }

  sameKeysAs(other: KeySet): boolean {
    return other instanceof FrozenKeySet && other.#fingerprint === this.#fingerprint;
  }

  withRevision(revision: number): KeySet {
    return new FrozenKeySet(this.#entries, this.#fingerprint, revision);
  }
}

/** For parseJwks: entries already validated and imported; `canonical` identifies their material. */
export function keySetFromEntries(entries: readonly KeyEntry[], canonical: string): KeySet {
  const frozen = Object.freeze(entries.map((e) => Object.freeze({ kid: e.kid, byAlg: new Map(e.byAlg) })));
  return new FrozenKeySet(frozen, digest(canonical), 0);
}

/**
 * A shared HMAC secret for the HS* algorithms of `algorithms`. Each algorithm is usable only
 * when the secret is at least its hash size (RFC 7518 §3.2); the secret must be at least
 * 32 bytes and long enough for at least one allowed algorithm. The key has no `kid`, so only
 * tokens without `kid` select it.
 */
export function createSecretKeySet(secret: Uint8Array, algorithms: readonly string[]): KeySet {
  const hmac = algorithms.filter(isHmacAlgorithm);
  if (hmac.length === 0 || hmac.length !== algorithms.length) throw new TypeError('a shared secret may only be used with HS256, HS384 or HS512');
  const bytes = Uint8Array.from(secret);
  const usable = hmac.filter((alg) => bytes.length >= HMAC_MIN_SECRET_BYTES[alg]);
  if (usable.length === 0) {
    const needed = Math.min(...hmac.map((alg) => HMAC_MIN_SECRET_BYTES[alg]));
    throw new KeySetError('secret_too_short', `shared secret is ${bytes.length} bytes; ${hmac.join(', ')} need at least ${needed}`);
  }
  const entry: KeyEntry = { kid: undefined, byAlg: new Map(usable.map((alg) => [alg, bytes])) };
  // Hash of the secret, so a rewritten-but-identical secret file is not a change; the digest
  // never leaves the set.
  const canonical = `secret:${usable.join(',')}:${Buffer.from(bytes).toString('base64')}`;
  return keySetFromEntries([entry], canonical);
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}
