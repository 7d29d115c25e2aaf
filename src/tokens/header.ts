import { TokenError } from './errors.js';

export interface CheckedHeader {
  readonly alg: string;
  readonly kid: string | undefined;
}

/**
 * Members that tell a verifier to fetch or trust a key from the token itself; keys come
 * only from the issuer's key set. `b64` (RFC 7797) changes what is signed: never for JWTs.
 */
const FORBIDDEN = ['jku', 'x5u', 'x5c', 'jwk', 'b64'] as const;
const MAX_KID_LENGTH = 256;

/**
 * Checks a decoded protected header before any key is looked up: forbidden members, `alg`
 * in the allow-list (exact, case-sensitive: `none`, `None`, `noNE` are never in it), no
 * `crit` (we implement no extension, and RFC 7515 §4.1.11 says refuse what we don't
 * understand), and `typ` when the issuer requires one.
 */
export function checkProtectedHeader(header: Record<string, unknown>, algorithms: ReadonlySet<string>, requiredTyp: string | undefined): CheckedHeader {
  const forbidden = FORBIDDEN.find((member) => Object.hasOwn(header, member));
  if (forbidden !== undefined) throw new TokenError('token_header_invalid', `token header has forbidden member "${forbidden}"`);

  const alg = header.alg;
  if (typeof alg !== 'string') throw new TokenError('token_header_invalid', 'token header has no string "alg"');
  if (!algorithms.has(alg)) throw new TokenError('token_algorithm_not_allowed', 'token algorithm is not allowed for this issuer');

  if (Object.hasOwn(header, 'crit')) throw new TokenError('token_crit_unsupported', 'token header has "crit": no extension is supported');

  const kid = header.kid;
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH))
    throw new TokenError('token_header_invalid', 'token header "kid" is not a non-empty string');

  const typ = header.typ;
  if (typ !== undefined && typeof typ !== 'string') throw new TokenError('token_header_invalid', 'token header "typ" is not a string');
  if (requiredTyp !== undefined && (typ === undefined || normalizeMediaType(typ) !== normalizeMediaType(requiredTyp)))
    throw new TokenError('token_type_invalid', 'token "typ" is not the required type');

  return Object.freeze({ alg, kid });
}

/** RFC 7515 §4.1.9: compare case-insensitively, "application/" may be omitted. */
export function normalizeMediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}
