/**
 * API keys as credentials: the key in `apiKeys.header`, checked against the API key set in
 * force, becomes the caller's user token (VerifiedToken), so policies read it as they read a
 * JWT: `from.issuers` (the configured issuer), `from.subjects`, `require.scopes`, roles, and
 * `request.auth` in CEL.
 */
import type { ApiKeysConfig } from '../config/index.js';
import type { ApiKeyEntry, ApiKeySet } from '../keys/index.js';
import type { RequestView } from '../request/index.js';
import { TokenError } from './errors.js';
import { TokenSources } from './extract.js';
import type { VerifiedToken } from './types.js';

/** The part of an ApiKeyStore the reader needs. */
export interface ApiKeyProvider {
  current(): ApiKeySet | undefined;
}

export interface ApiKeyReaderOptions {
  readonly config: ApiKeysConfig;
  /** The set's name (`apiKeys.name`, default the service). */
  readonly name: string;
  readonly keys: ApiKeyProvider;
  /** Clock in epoch milliseconds (tests). */
  readonly now?: () => number;
}

/** The `issuerName` of an API key caller (the config refuses a token issuer of that name). */
export const apiKeyIssuerName = (name: string): string => `apikeys.${name}`;

export class ApiKeyReader {
  /** The name errors and VerifiedTokens carry (`apikeys.<name>`). */
  readonly issuerName: string;
  readonly #sources: TokenSources;
  readonly #issuer: string;
  readonly #keys: ApiKeyProvider;
  readonly #now: () => number;
  /** One VerifiedToken per entry, so identity headers (interned per token object) are worked out once per key. */
  readonly #tokens = new WeakMap<ApiKeyEntry, VerifiedToken>();

  constructor(options: ApiKeyReaderOptions) {
    this.issuerName = apiKeyIssuerName(options.name);
    this.#sources = new TokenSources([{ header: options.config.header }]);
    this.#issuer = options.config.issuer;
    this.#keys = options.keys;
    this.#now = options.now ?? Date.now;
  }

  /** The key the request carries, or null; the header twice, or a value with a space or comma, throws (see TokenSources). */
  find(view: RequestView): string | null {
    return this.#sources.find(view)[0]?.token ?? null;
  }

  /** The caller of a key, or TokenError: malformed, unknown, expired, or `keys_unavailable` while no set is held. */
  verify(key: string): VerifiedToken {
    const set = this.#keys.current();
    if (set === undefined) throw new TokenError('keys_unavailable', 'no API key set loaded yet', { issuerName: this.issuerName });
    const match = set.match(key, Math.floor(this.#now() / 1000));
    switch (match.result) {
      case 'malformed':
        throw new TokenError('api_key_malformed', 'API key is not of the form ak_<id>_<secret>');
      case 'unknown':
        throw new TokenError('api_key_unknown', 'no API key entry matches');
      case 'expired':
        throw new TokenError('api_key_expired', `API key ${match.entry.id} has expired`);
    }
    let token = this.#tokens.get(match.entry);
    if (token === undefined) {
      token = this.#tokenOf(match.entry);
      this.#tokens.set(match.entry, token);
    }
    return token;
  }

  #tokenOf(entry: ApiKeyEntry): VerifiedToken {
    const claims: Record<string, unknown> = {
      ...entry.claims,
      iss: this.#issuer,
      sub: entry.subject,
      jti: entry.id,
      scope: entry.scopes.join(' '),
      roles: entry.roles,
      ...(entry.expiresAt !== undefined && { exp: entry.expiresAt }),
    };
    return Object.freeze({
      issuerName: this.issuerName,
      issuer: this.#issuer,
      subject: entry.subject,
      audience: Object.freeze([]),
      jti: entry.id,
      expiresAt: entry.expiresAt ?? Number.POSITIVE_INFINITY,
      scopes: entry.scopes,
      claims: Object.freeze(claims),
      roles: entry.roles,
    });
  }
}
