/**
 * A token that passed every check: signature, algorithm, iss, aud, exp, nbf, iat, typ,
 * revocation. An API key that matched its entry is one too (tokens/api-keys.ts): the entry's
 * subject, scopes and roles, its id as `jti`, the configured issuer.
 */
export interface VerifiedToken {
  /** Config name of the issuer (`issuers[].name`), or "service" for service tokens. */
  readonly issuerName: string;
  /** The `iss` claim. */
  readonly issuer: string;
  /** The `sub` claim ("" when absent). */
  readonly subject: string;
  readonly audience: readonly string[];
  readonly jti: string | undefined;
  /** `exp`, epoch seconds. */
  readonly expiresAt: number;
  /** OAuth scopes from `scope` (space-separated string) or `scp` (array or string). */
  readonly scopes: readonly string[];
  /** The whole payload, frozen. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Roles the credential itself states (an API key's entry); when present, policies use these instead of reading `rolesFrom`. */
  readonly roles?: readonly string[];
}

/** Who is calling, as established by the credentials of one request. */
export interface AuthContext {
  /** The end-user token (first configured issuer whose source carried a token). */
  readonly user: VerifiedToken | null;
  /** The service token, when one was presented. */
  readonly service: VerifiedToken | null;
  /** The caller's SPIFFE id: from the service token, else Envoy's mTLS `source.principal`. */
  readonly principal: string | null;
}

export const ANONYMOUS: AuthContext = Object.freeze({ user: null, service: null, principal: null });
