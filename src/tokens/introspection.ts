import type { IssuerConfig } from '../config/index.js';
import { IntrospectionError, type IntrospectionAnswer, type IntrospectionClient, type KeyProvider } from '../keys/index.js';
import { deepFreeze } from '../shared/index.js';
import { decodeJsonObject, splitCompact } from './compact.js';
import { TokenError } from './errors.js';
import { checkProtectedHeader } from './header.js';
import { IntrospectionCache, NegativeAnswer } from './introspection-cache.js';
import { signatureValid } from './signature.js';
import type { VerifiedToken } from './types.js';

/** What the sidecar reports about an issuer's introspection endpoint; main.ts logs it. */
export type IntrospectionEvent =
  | { readonly type: 'introspection-failed'; readonly issuerName: string; readonly message: string }
  | { readonly type: 'introspection-recovered'; readonly issuerName: string };

export interface IntrospectorOptions {
  /** An issuer with `introspection`. */
  readonly config: IssuerConfig;
  readonly client: IntrospectionClient;
  /** The issuer's key set, for `introspection.jwtResponse`. */
  readonly keys?: KeyProvider | undefined;
  /** `tokenCache.maxEntries`. */
  readonly maxEntries: number;
  readonly now?: () => number;
  readonly onEvent?: (event: IntrospectionEvent) => void;
}

export interface Introspector {
  readonly issuerName: string;
  /** Synchronous on a cached answer; throws or rejects TokenError (`keys_unavailable` when the endpoint fails). */
  check(token: string): VerifiedToken | Promise<VerifiedToken>;
  readonly cache: IntrospectionCache;
}

/** The typ of an RFC 9701 answer. */
const ANSWER_TYP = 'token-introspection+jwt';

/**
 * Opaque tokens of one issuer, checked by its introspection endpoint and cached
 * (IntrospectionCache). An active answer becomes the VerifiedToken a JWT would: `sub`,
 * `scope`, `aud`, `exp`, `jti`, `client_id` and every other member as claims, so the policy
 * reads `request.auth.*` alike. `active: false` is 401 `token_inactive`; an answer for another
 * issuer or audience, or past its `exp`, is refused as a JWT would be. An endpoint that fails
 * (down, slow, a redirect, an unusable or unsigned answer) is 503 `keys_unavailable` for that
 * Check, never remembered and never an allow (except where the issuer opted into fail-open).
 */
export function createIntrospector(options: IntrospectorOptions): Introspector {
  const { config, client, keys } = options;
  const introspection = config.introspection;
  if (introspection === undefined) throw new TypeError(`issuer "${config.name}" has no introspection`);
  if (introspection.jwtResponse && keys === undefined) throw new TypeError(`issuer "${config.name}": jwtResponse needs keys`);
  const now = options.now ?? Date.now;
  const cache = new IntrospectionCache({ maxEntries: options.maxEntries, now });
  const audiences = new Set(config.audiences);
  const algorithms = new Set(config.algorithms);
  let failing = false;

  const fail = (error: unknown): never => {
    const message = error instanceof IntrospectionError ? error.message : 'introspection: the answer could not be checked';
    if (!failing) options.onEvent?.({ type: 'introspection-failed', issuerName: config.name, message });
    failing = true;
    throw new TokenError('keys_unavailable', "the issuer's introspection endpoint cannot be consulted", { issuerName: config.name, cause: error });
  };

  async function load(token: string): Promise<{ token: VerifiedToken; until: number }> {
    let answer: IntrospectionAnswer;
    try {
      answer = await client.introspect(token);
      if (introspection!.jwtResponse) await checkSignedAnswer(answer.signed, keys!, algorithms);
    } catch (error) {
      return fail(error);
    }
    if (failing) options.onEvent?.({ type: 'introspection-recovered', issuerName: config.name });
    failing = false;
    const at = now();
    try {
      const verified = toVerifiedToken(config, audiences, answer.claims, at, introspection!.cacheSeconds);
      return { token: verified, until: Math.min(verified.expiresAt * 1000, at + introspection!.cacheSeconds * 1000) };
    } catch (error) {
      if (error instanceof TokenError) throw new NegativeAnswer(error, at + introspection!.negativeCacheSeconds * 1000);
      throw error;
    }
  }

  function check(token: string): VerifiedToken | Promise<VerifiedToken> {
    if (token.length > config.maxTokenBytes) throw new TokenError('token_too_large', `token longer than ${config.maxTokenBytes} bytes`);
    return cache.get(token, () => load(token));
  }

  return Object.freeze({ issuerName: config.name, check, cache });
}

/**
 * The active answer as a VerifiedToken, or the TokenError a JWT with these claims would get.
 * `iss` and `aud` are optional in an answer (RFC 7662 §2.2) and checked when present; without
 * `exp` the answer counts for `cacheSeconds`.
 */
function toVerifiedToken(
  config: IssuerConfig,
  audiences: ReadonlySet<string>,
  answer: Readonly<Record<string, unknown>>,
  nowMs: number,
  cacheSeconds: number,
): VerifiedToken {
  if (answer.active !== true) throw new TokenError('token_inactive', 'the issuer says the token is not active');
  const { active: _active, ...claims } = answer;
  const nowSeconds = Math.floor(nowMs / 1000);
  const skew = config.clockSkewSeconds;
  if (claims.iss !== undefined && claims.iss !== config.issuer) throw new TokenError('token_issuer_invalid', 'token issuer is not accepted');
  const audience = audienceOf(claims.aud);
  if (audience !== undefined && !audience.some((a) => audiences.has(a))) throw new TokenError('token_audience_invalid', 'token audience is not accepted');
  const exp = optionalNumber(claims, 'exp');
  if (exp !== undefined && exp <= nowSeconds - skew) throw new TokenError('token_expired', 'token has expired');
  const nbf = optionalNumber(claims, 'nbf');
  if (nbf !== undefined && nbf > nowSeconds + skew) throw new TokenError('token_not_yet_valid', 'token is not valid yet');
  const scope = optionalString(claims, 'scope');
  return Object.freeze({
    issuerName: config.name,
    issuer: config.issuer,
    subject: optionalString(claims, 'sub') ?? '',
    audience: Object.freeze(audience ?? []),
    jti: optionalString(claims, 'jti'),
    expiresAt: exp ?? nowSeconds + cacheSeconds,
    scopes: Object.freeze(scope === undefined ? [] : scope.split(' ').filter((s) => s !== '')),
    claims: deepFreeze(claims),
  });
}

/**
 * An RFC 9701 answer's signature, under the issuer's current key set with the rules a token
 * gets (header checks, `alg` allow-list, the key chosen by `kid`; an unknown kid may refetch
 * a remote set once). The library has checked its claims (`typ`, `iss`, `aud`, `iat`).
 * An answer that is not signed, when a signed one was asked for, is refused: no downgrade.
 */
async function checkSignedAnswer(signed: string | undefined, keys: KeyProvider, algorithms: ReadonlySet<string>): Promise<void> {
  if (signed === undefined) throw new IntrospectionError('introspection: the answer is not signed (application/token-introspection+jwt was asked for)');
  let header;
  try {
    const [headerSegment] = splitCompact(signed, signed.length);
    header = checkProtectedHeader(decodeJsonObject(headerSegment, 'token_header_invalid', 'header'), algorithms, ANSWER_TYP);
  } catch (error) {
    throw new IntrospectionError(`introspection: signed answer refused (${error instanceof TokenError ? error.code : 'malformed'})`);
  }
  let key = keys.current()?.select(header.alg, header.kid);
  if (key === undefined && (await keys.reloadOnUnknownKey())) key = keys.current()?.select(header.alg, header.kid);
  if (key === undefined) throw new IntrospectionError('introspection: no key of the issuer matches the signed answer');
  const dot = signed.lastIndexOf('.');
  if (!signatureValid(header.alg, key, signed.slice(0, dot), Buffer.from(signed.slice(dot + 1), 'base64url')))
    throw new IntrospectionError('introspection: the signature of the signed answer is not valid');
}

function audienceOf(aud: unknown): string[] | undefined {
  if (aud === undefined) return undefined;
  if (typeof aud === 'string' && aud !== '') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string' && a !== '')) return [...(aud as string[])];
  throw invalid('"aud" is not a non-empty string or array of strings');
}

function optionalString(claims: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`"${name}" is not a string`);
  return value;
}

function optionalNumber(claims: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`"${name}" is not a number`);
  return value;
}

function invalid(what: string): TokenError {
  return new TokenError('token_claims_invalid', `introspection answer ${what}`);
}
