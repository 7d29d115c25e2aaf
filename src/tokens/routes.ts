/**
 * Which issuer reads a request's user token, and who the caller then is. Shared by the
 * authenticator and by offline decoding (unverified.ts), so a recorded request replayed by
 * `authzctl policy replay` reaches the issuer the sidecar would have chosen, and names the
 * same principal.
 */
import type { IssuerConfig, TokenSource } from '../config/index.js';
import type { RequestView } from '../request/index.js';
import { decodeJsonObject, splitCompact } from './compact.js';
import { TokenError } from './errors.js';
import { TokenSources } from './extract.js';
import { ANONYMOUS, type AuthContext, type VerifiedToken } from './types.js';

/** One configured issuer's reader (a verifier, a decoder): what routing needs of it. */
export interface IssuerRoute {
  /** The issuer's `iss`. */
  readonly issuer: string | undefined;
  readonly maxTokenBytes: number;
  /** An introspection issuer: reads the tokens of its source that no JWT issuer there claims (opaque ones). */
  readonly opaque?: boolean;
}

/**
 * The user-token sources of every issuer (`issuers[].from`), each distinct header or cookie
 * once, with the issuers reading it. A source of a single issuer leads straight to it; a
 * source several issuers share (typically `authorization: Bearer`) is routed by the token's
 * unverified `iss` (chooseByIssuer) — routing only, the chosen issuer then checks it fully.
 */
export class UserTokenRoutes<T extends IssuerRoute> {
  readonly #sources: TokenSources;
  /** Found tokens carry the representative source object of their route: looked up by identity. */
  readonly #readers: ReadonlyMap<TokenSource, readonly T[]>;

  /** `readers[i]` reads the tokens of `issuers[i]`. Two issuers with the same `iss` on one source could not be told apart: a TypeError. */
  constructor(issuers: readonly IssuerConfig[], readers: readonly T[]) {
    const routes = new Map<string, { source: TokenSource; readers: T[] }>();
    issuers.forEach((cfg, i) => {
      for (const source of cfg.from) {
        const key = sourceKey(source);
        const route = routes.get(key) ?? { source, readers: [] };
        if (route.readers.some((r) => r.issuer === cfg.issuer))
          throw new TypeError(`issuers sharing ${key} must have different "issuer" values ("${cfg.name}")`);
        if (!route.readers.includes(readers[i])) route.readers.push(readers[i]);
        routes.set(key, route);
      }
    });
    this.#sources = new TokenSources([...routes.values()].map((r) => r.source));
    this.#readers = new Map([...routes.values()].map((r) => [r.source, r.readers] as const));
  }

  /**
   * The user token the request carries and the issuers that may read it; null when it carries
   * none. A token in more than one source, or an ambiguous one (TokenSources), throws TokenError.
   */
  find(view: RequestView): { readonly token: string; readonly candidates: readonly T[] } | null {
    const found = this.#sources.find(view);
    if (found.length === 0) return null;
    if (found.length > 1) throw new TokenError('credentials_duplicated', 'tokens in more than one credential source');
    const { source, token } = found[0];
    return { token, candidates: this.#readers.get(source)! };
  }
}

/**
 * Among issuers sharing a source, the one the token's unverified `iss` names. A token that is
 * not a JWT, or names none of them, goes to the source's introspection issuer if it has one
 * (at most one: the config loader checks); else token_issuer_unknown (or the JWT's own refusal).
 */
export function chooseByIssuer<T extends IssuerRoute>(token: string, candidates: readonly T[]): T {
  const opaque = candidates.find((c) => c.opaque === true);
  let iss: string;
  try {
    iss = peekIssuer(token, Math.max(...candidates.map((c) => c.maxTokenBytes)));
  } catch (error) {
    if (opaque !== undefined && error instanceof TokenError) return opaque;
    throw error;
  }
  const chosen = candidates.find((c) => c.issuer === iss) ?? opaque;
  if (chosen === undefined) throw new TokenError('token_issuer_unknown', 'no configured issuer for the token "iss"');
  return chosen;
}

/** Who is calling: the principal is the service token's `sub`, else Envoy's mTLS source principal. */
export function authContext(view: RequestView, user: VerifiedToken | null, service: VerifiedToken | null): AuthContext {
  const principal = service !== null ? service.subject : view.sourcePrincipal !== '' ? view.sourcePrincipal : null;
  if (user === null && service === null && principal === null) return ANONYMOUS;
  return Object.freeze({ user, service, principal });
}

/** Unverified `iss`, for routing among issuers sharing a source; the same structural checks as the verifier first. */
function peekIssuer(token: string, maxBytes: number): string {
  const [, payload] = splitCompact(token, maxBytes);
  const iss = decodeJsonObject(payload, 'token_claims_invalid', 'payload').iss;
  if (typeof iss !== 'string') throw new TokenError('token_issuer_unknown', 'token has no string "iss" to choose an issuer by');
  return iss;
}

function sourceKey(source: TokenSource): string {
  return 'header' in source ? `header:${source.header}:${source.prefix ?? ''}` : `cookie:${source.cookie}`;
}
