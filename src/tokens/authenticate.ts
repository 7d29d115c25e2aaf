import type { ApiKeysConfig, IssuerConfig, ServiceTokensConfig } from '../config/index.js';
import type { IntrospectionClient, KeyProvider, KeyStore, RevocationStore } from '../keys/index.js';
import type { RequestView } from '../request/index.js';
import { ApiKeyReader, type ApiKeyProvider } from './api-keys.js';
import { TokenCache } from './cache.js';
import { TokenError } from './errors.js';
import { TokenSources } from './extract.js';
import { authContext, chooseByIssuer, UserTokenRoutes } from './routes.js';
import { createServiceTokenVerifier, SERVICE_ISSUER_NAME } from './service.js';
import type { AuthContext, VerifiedToken } from './types.js';
import { createJwtVerifier, type JwtVerifier } from './verify.js';
import { createIntrospector, type IntrospectionEvent, type Introspector } from './introspection.js';

/** What the authenticator needs of a KeyStore: the current set, and to hear about changes. */
export type AuthKeyStore = KeyProvider & Pick<KeyStore, 'onChange'>;

export interface AuthenticatorOptions {
  readonly issuers: readonly IssuerConfig[];
  readonly serviceTokens?: ServiceTokensConfig | undefined;
  /** This sidecar's service (default service-token audience). */
  readonly service: string;
  /**
   * One store per issuer, by `issuers[].name`, and the trust domain's store for service tokens.
   * An introspection issuer has one only when it verifies signed answers (`jwtResponse`).
   */
  readonly keyStores: { readonly issuers: ReadonlyMap<string, AuthKeyStore>; readonly serviceTokens?: AuthKeyStore | undefined };
  /** `tokenCache.maxEntries`; the bound applies to each issuer's cache (and the service-token cache) separately. */
  readonly cacheMaxEntries: number;
  /** Clock in epoch milliseconds (tests). */
  readonly now?: () => number;
  /** Revoked jtis and subjects (control plane); checked on every request, cached tokens included. */
  readonly revocations?: RevocationStore | undefined;
  /** API keys (`apiKeys`), with the set's name and the store holding the set in force. */
  readonly apiKeys?: { readonly config: ApiKeysConfig; readonly name: string; readonly keys: ApiKeyProvider } | undefined;
  /** The introspection client of each issuer with `introspection`, by name, and who hears about its endpoint. */
  readonly introspection?: {
    readonly clients: ReadonlyMap<string, IntrospectionClient>;
    readonly onEvent?: (event: IntrospectionEvent) => void;
  };
}

/** One token cache's figures, as the authenticator reports them (telemetry reads them at scrape time). */
export interface TokenCacheStats {
  readonly issuerName: string;
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
}

export interface Authenticator {
  /** Synchronous when every token present is a cache hit (the hot path); throws/rejects TokenError. */
  authenticate(view: RequestView): AuthContext | Promise<AuthContext>;
  /** Per cache (the issuer's name; the trust domain for service tokens), read by /metrics at scrape time. */
  cacheStats(): ReadonlyArray<TokenCacheStats>;
  /** Unsubscribes from the key stores (it does not stop them). */
  stop(): void;
}

interface Checker {
  readonly name: string;
  readonly verifier: JwtVerifier;
  readonly cache: TokenCache;
  readonly store: AuthKeyStore;
  readonly issuer: string | undefined;
  readonly maxTokenBytes: number;
  /** Introspection issuers: their answers are cached there (the JWT cache above is off for them). */
  readonly introspector?: Introspector;
  readonly opaque?: boolean;
}

/** An introspection issuer without keys: nothing to consult, nothing ever changes. */
const NO_KEYS: AuthKeyStore = Object.freeze({
  current: () => undefined,
  available: () => true,
  reloadOnUnknownKey: () => Promise.resolve(false),
  onChange: () => () => {},
});

/**
 * Who is calling. User token: every configured source is looked at; a token in two sources
 * is refused. A source shared by several issuers (typically `authorization: Bearer`) is
 * routed by the token's unverified `iss` — routing only, the chosen issuer then verifies it
 * fully; a source of a single issuer goes straight to that issuer's verifier (a wrong `iss`
 * is then `token_issuer_invalid`). No token anywhere is anonymous (the policy decides); a
 * token present but invalid always throws. The principal is the service token's `sub`, else
 * Envoy's mTLS source principal.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const unsubscribe: Array<() => void> = [];
  const checker = (name: string, store: AuthKeyStore, verifier: JwtVerifier, issuer: string | undefined, maxTokenBytes: number): Checker => {
    const cache = new TokenCache({ maxEntries: options.cacheMaxEntries, now: options.now });
    unsubscribe.push(store.onChange(() => cache.clear()));
    return { name, verifier, cache, store, issuer, maxTokenBytes };
  };

  const users = options.issuers.map((cfg): Checker => {
    if (cfg.introspection !== undefined) return introspectionChecker(cfg);
    const store = requireStore(cfg.name, options.keyStores.issuers.get(cfg.name));
    const { name, issuer, audiences, algorithms, clockSkewSeconds, maxTokenBytes, typ } = cfg;
    const verifier = createJwtVerifier({
      issuerName: name,
      issuer,
      audiences,
      algorithms,
      clockSkewSeconds,
      maxTokenBytes,
      typ,
      keys: store,
      now: options.now,
    });
    return checker(name, store, verifier, issuer, maxTokenBytes);
  });
  const routes = new UserTokenRoutes(options.issuers, users);

  /**
   * The introspector stands in for the verifier; the token cache in front of it is off (0
   * entries), as the introspector keeps its own, keyed by a keyed hash and bounded the same.
   */
  function introspectionChecker(cfg: IssuerConfig): Checker {
    const client = options.introspection?.clients.get(cfg.name);
    if (client === undefined) throw new TypeError(`no introspection client for "${cfg.name}"`);
    const store = options.keyStores.issuers.get(cfg.name);
    const introspector = createIntrospector({
      config: cfg,
      client,
      keys: store,
      maxEntries: options.cacheMaxEntries,
      now: options.now,
      onEvent: options.introspection?.onEvent,
    });
    const verifier: JwtVerifier = Object.freeze({
      issuerName: cfg.name,
      check: (token: string) => introspector.check(token),
      verify: async (token: string) => introspector.check(token),
    });
    const cache = new TokenCache({ maxEntries: 0 });
    return { name: cfg.name, verifier, cache, store: store ?? NO_KEYS, issuer: cfg.issuer, maxTokenBytes: cfg.maxTokenBytes, introspector, opaque: true };
  }

  const st = options.serviceTokens;
  let service: Checker | undefined;
  if (st !== undefined) {
    const store = requireStore('serviceTokens', options.keyStores.serviceTokens);
    const verifier = createServiceTokenVerifier({ config: st, service: options.service, keys: store, now: options.now });
    service = checker(SERVICE_ISSUER_NAME, store, verifier, st.issuer, st.maxTokenBytes);
  }
  const serviceSources = st && new TokenSources([{ header: st.header }]);
  const apiKeys = options.apiKeys && new ApiKeyReader({ ...options.apiKeys, now: options.now });

  /**
   * Synchronous: finds and routes the user token. Returns the cached token, the checker that
   * must verify it, or null. Nothing async starts here, so a later throw cannot orphan a promise.
   */
  function routeUserToken(view: RequestView): VerifiedToken | { checker: Checker; token: string; missed: boolean } | null {
    const found = routes.find(view);
    if (found === null) return null;
    const { token, candidates } = found;
    if (candidates.length === 1) return { checker: candidates[0], token, missed: false };
    // A hit in an issuer's cache means that issuer verified this exact text: no need to route.
    for (const candidate of candidates) {
      const hit = candidate.cache.get(token, candidate.store.current()?.revision);
      if (hit !== undefined) return hit;
    }
    return { checker: chooseByIssuer(token, candidates), token, missed: true };
  }

  const revocations = options.revocations;
  const now = options.now ?? Date.now;
  if (revocations !== undefined) {
    const all = [...users, ...(service ? [service] : [])];
    revocations.onChange((next) => {
      const at = Math.floor(now() / 1000);
      for (const c of all) {
        c.cache.evictWhere((token) => next.revokes(token, at));
        c.introspector?.cache.evictWhere((token) => next.revokes(token, at));
      }
    });
  }

  /** After the cache, so a revocation applies at once to tokens verified before it. */
  function notRevoked(token: VerifiedToken | null): VerifiedToken | null {
    if (token !== null && revocations !== undefined && revocations.current().revokes(token, Math.floor(now() / 1000)))
      throw new TokenError('token_revoked', 'token has been revoked');
    return token;
  }

  function finish(view: RequestView, user: VerifiedToken | null, svc: VerifiedToken | null): AuthContext {
    return authContext(view, notRevoked(user), notRevoked(svc));
  }

  function authenticate(view: RequestView): AuthContext | Promise<AuthContext> {
    // Every extraction (which may throw) before any verification (which may be async).
    const routed = routeUserToken(view);
    const serviceToken = service !== undefined && serviceSources !== undefined ? (serviceSources.find(view)[0]?.token ?? null) : null;
    const apiKey = apiKeys?.find(view) ?? null;
    // An API key is the caller's user identity: with a user token too, which one is meant is ambiguous.
    if (apiKey !== null && routed !== null) throw new TokenError('credentials_duplicated', 'an API key and a user token in one request');
    const user =
      apiKey !== null
        ? apiKeys!.verify(apiKey)
        : routed === null || !('checker' in routed)
          ? routed
          : routed.missed
            ? verifyAndCache(routed.checker, routed.token)
            : check(routed.checker, routed.token);
    let svc: VerifiedToken | Promise<VerifiedToken> | null;
    try {
      svc = service !== undefined && serviceToken !== null ? check(service, serviceToken) : null;
    } catch (error) {
      // The request is refused with this error; a user token still verifying must not end as an unhandled rejection.
      if (user instanceof Promise) user.catch(() => {});
      throw error;
    }
    if (user instanceof Promise || svc instanceof Promise) return Promise.all([user, svc]).then(([u, s]) => finish(view, u, s));
    return finish(view, user, svc);
  }

  return Object.freeze({
    authenticate,
    cacheStats: () =>
      [...users, ...(service ? [service] : [])].map((c) => {
        // Service tokens are named by their trust domain, as their key set is.
        const { hits, misses, size } = c.introspector?.cache ?? c.cache;
        return Object.freeze({ issuerName: c === service ? st!.trustDomain : c.name, hits, misses, size });
      }),
    stop: () => unsubscribe.splice(0).forEach((off) => off()),
  });
}

function requireStore(name: string, store: AuthKeyStore | undefined): AuthKeyStore {
  if (store === undefined) throw new TypeError(`no key store for "${name}"`);
  return store;
}

function check(checker: Checker, token: string): VerifiedToken | Promise<VerifiedToken> {
  return checker.cache.get(token, checker.store.current()?.revision) ?? verifyAndCache(checker, token);
}

/**
 * Synchronous when the token's key is at hand (see JwtVerifier.check); throws or rejects
 * TokenError. A lasting refusal of this exact token under the current key set is answered
 * from the cache: a client retrying an expired or forged token costs no signature check.
 */
function verifyAndCache(checker: Checker, token: string): VerifiedToken | Promise<VerifiedToken> {
  // The revision before verifying: if the set changes meanwhile, the entry is tagged with the
  // old revision and is never served (the cache only serves the current revision).
  const revision = checker.store.current()?.revision;
  const refused = checker.cache.refusal(token, revision);
  if (refused !== undefined) throw refused;
  const store = (verified: VerifiedToken): VerifiedToken => {
    if (revision !== undefined) checker.cache.set(token, verified, revision);
    return verified;
  };
  const remember = (error: unknown): never => {
    if (error instanceof TokenError && revision !== undefined) checker.cache.refuse(token, error, revision);
    throw error;
  };
  let verified: VerifiedToken | Promise<VerifiedToken>;
  try {
    verified = checker.verifier.check(token);
  } catch (error) {
    return remember(error);
  }
  return verified instanceof Promise ? verified.then(store, remember) : store(verified);
}
