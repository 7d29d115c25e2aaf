import { TokenError } from './errors.js';
import { deepFreeze } from '../shared/index.js';
import type { VerifiedToken } from './types.js';

export interface ClaimRules {
  /** Required `iss`; undefined accepts any. */
  readonly issuer: string | undefined;
  /** Accepted when any `aud` value is one of these. */
  readonly audiences: ReadonlySet<string>;
  /**
   * Now, in epoch seconds. Null only for tokens read offline (tokens/unverified.ts): the time
   * claims are then type-checked but never compared, as recorded tokens have expired since.
   */
  readonly nowSeconds: number | null;
  readonly skewSeconds: number;
}

/**
 * The registered claims (RFC 7519 §4.1), checked after the signature: `iss`, `aud` and `exp`
 * present, `iss` exact, any `aud` value accepted, `exp` after now − skew, `nbf` not after
 * now + skew, the time claims numbers. Then toVerifiedToken adds `iat`, shapes and types.
 * Presence is checked first and in that order (iss, aud, exp), so a token missing several is
 * always refused with the same code.
 */
export function checkRegisteredClaims(payload: Readonly<Record<string, unknown>>, rules: ClaimRules): void {
  if (rules.issuer !== undefined && !Object.hasOwn(payload, 'iss')) throw new TokenError('token_issuer_invalid', 'token has no "iss" claim');
  if (!Object.hasOwn(payload, 'aud')) throw new TokenError('token_audience_invalid', 'token has no "aud" claim');
  if (!Object.hasOwn(payload, 'exp')) throw invalid('"exp" is missing');
  if (rules.issuer !== undefined && payload.iss !== rules.issuer) throw new TokenError('token_issuer_invalid', 'token issuer is not accepted');
  if (!audienceAccepted(payload.aud, rules.audiences)) throw new TokenError('token_audience_invalid', 'token audience is not accepted');
  const { nowSeconds, skewSeconds } = rules;
  if (payload.iat !== undefined && typeof payload.iat !== 'number') throw invalid('"iat" is not a number');
  const nbf = payload.nbf;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') throw invalid('"nbf" is not a number');
    if (nowSeconds !== null && nbf > nowSeconds + skewSeconds) throw new TokenError('token_not_yet_valid', 'token is not valid yet');
  }
  const exp = payload.exp;
  if (typeof exp !== 'number') throw invalid('"exp" is not a number');
  if (nowSeconds !== null && exp <= nowSeconds - skewSeconds) throw new TokenError('token_expired', 'token has expired');
}

function audienceAccepted(aud: unknown, accepted: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return accepted.has(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && accepted.has(a));
}

/**
 * Checks beyond checkRegisteredClaims, then the frozen VerifiedToken: `iat` not in the
 * future, a well-formed `aud`, and the types of `sub`, `jti` and scopes. `nowSeconds` null:
 * read offline, `iat` is only type-checked (see ClaimRules).
 */
export function toVerifiedToken(issuerName: string, payload: Record<string, unknown>, nowSeconds: number | null, skewSeconds: number): VerifiedToken {
  const exp = payload.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('"exp" is not a number');
  const iat = payload.iat;
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('"iat" is not a number');
    if (nowSeconds !== null && iat > nowSeconds + skewSeconds) throw new TokenError('token_issued_in_future', 'token "iat" is in the future');
  }
  return verifiedTokenOf(issuerName, deepFreeze(payload), exp);
}

/**
 * The frozen VerifiedToken for a payload whose time claims have been checked: right after
 * verification, and when the token cache revives a token it holds only as claims text.
 */
export function verifiedTokenOf(issuerName: string, payload: Readonly<Record<string, unknown>>, expiresAt: number): VerifiedToken {
  const iss = optionalString(payload, 'iss');
  const sub = optionalString(payload, 'sub');
  const jti = optionalString(payload, 'jti');
  return Object.freeze({
    issuerName,
    issuer: iss ?? '',
    subject: sub ?? '',
    audience: audienceOf(payload.aud),
    jti,
    expiresAt,
    scopes: scopesOf(payload),
    claims: payload,
  });
}

function audienceOf(aud: unknown): readonly string[] {
  if (typeof aud === 'string' && aud !== '') return Object.freeze([aud]);
  if (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string' && a !== '')) return Object.freeze([...(aud as string[])]);
  throw invalid('"aud" is not a non-empty string or array of strings');
}

/** `scope` (RFC 8693 §4.2, space-separated) wins over `scp` (array or string, Okta/Azure). */
function scopesOf(payload: Readonly<Record<string, unknown>>): readonly string[] {
  const { scope, scp } = payload;
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw invalid('"scope" is not a string');
    return Object.freeze(splitScopes(scope));
  }
  if (scp === undefined) return Object.freeze([]);
  if (typeof scp === 'string') return Object.freeze(splitScopes(scp));
  if (Array.isArray(scp) && scp.every((s) => typeof s === 'string')) return Object.freeze(scp.filter((s: string) => s !== ''));
  throw invalid('"scp" is not a string or array of strings');
}

function splitScopes(text: string): string[] {
  return text.split(' ').filter((s) => s !== '');
}

function optionalString(payload: Readonly<Record<string, unknown>>, claim: string): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`"${claim}" is not a string`);
  return value;
}

function invalid(what: string): TokenError {
  return new TokenError('token_claims_invalid', `token claim ${what}`);
}
