import { TokenError } from './errors.js';
import { deepFreeze } from '../shared/deep-freeze.js';
import type { VerifiedToken } from './types.js';

/**
 * Checks jose leaves to the caller, run after signature and jose's claim checks, then the
 * frozen VerifiedToken. jose checks `iat` against the clock only with `maxTokenAge`, accepts
 * any `aud` shape as long as one value matches, and does not type `sub`, `jti` or scopes.
 */
export function toVerifiedToken(issuerName: string, payload: Record<string, unknown>, nowSeconds: number, skewSeconds: number): VerifiedToken {
  const exp = payload.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('"exp" is not a number');
  const iat = payload.iat;
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('"iat" is not a number');
    if (iat > nowSeconds + skewSeconds) throw new TokenError('token_issued_in_future', 'token "iat" is in the future');
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
