import { parseStrictJson, StrictJsonError } from '../shared/index.js';
import { TokenError, type TokenErrorCode } from './errors.js';

const B64URL = /^[A-Za-z0-9_-]+$/;
/** Claims nest a little (realm_access.roles); nothing legitimate is deeper than this. */
const MAX_JSON_DEPTH = 32;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The three segments of a compact JWS, checked before anything is decoded: the size cap
 * first (so an oversized token costs nothing), then exactly three non-empty segments of
 * canonical base64url. Canonical (re-encodes to the same text) so one token has one
 * spelling: the cache key and the signed bytes cannot differ for the "same" token.
 */
export function splitCompact(token: string, maxBytes: number): [header: string, payload: string, signature: string] {
  // Length counts UTF-16 units, at most the UTF-8 byte count; anything non-ASCII fails the charset check below.
  if (token.length > maxBytes) throw new TokenError('token_too_large', `token longer than ${maxBytes} bytes`);
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenError('token_malformed', `token has ${parts.length} segments, not 3`);
  for (const part of parts) {
    if (part === '' || !B64URL.test(part) || !canonicalTail(part)) throw new TokenError('token_malformed', 'token segment is not canonical base64url');
  }
  return parts as [string, string, string];
}

/**
 * Unpadded base64url is canonical when its length is not 1 mod 4 and the bits the last
 * character carries beyond the final byte are zero (RFC 4648 §3.5): 4 bits when 2 characters
 * encode the last byte, 2 when 3 encode the last two. The same test as decoding and
 * re-encoding, without either. `part` is already known to be in the alphabet.
 */
function canonicalTail(part: string): boolean {
  const rest = part.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const value = sextet(part.charCodeAt(part.length - 1));
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0;
}

function sextet(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41; // A-Z
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26; // a-z
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52; // 0-9
  return c === 0x2d /* - */ ? 62 : 63; // _
}

/**
 * A segment's text: base64url, then UTF-8 (fatal on invalid sequences; a leading BOM is
 * dropped, as WHATWG decoders do). The token cache reads cached claims back with this too,
 * so it sees exactly the text the verifier parsed.
 */
export function segmentText(segment: string): string {
  return utf8.decode(Buffer.from(segment, 'base64url'));
}

/**
 * A header or payload segment as a JSON object: UTF-8, no duplicate member names, bounded
 * depth. `code` is the error for this segment (header or claims).
 */
export function decodeJsonObject(segment: string, code: TokenErrorCode, what: 'header' | 'payload'): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(segmentText(segment), MAX_JSON_DEPTH);
  } catch (error) {
    const reason =
      error instanceof StrictJsonError && error.problem === 'duplicate_key'
        ? 'has duplicate member names'
        : error instanceof StrictJsonError && error.problem === 'too_deep'
          ? 'is nested too deeply'
          : 'is not UTF-8 JSON';
    throw new TokenError(code, `token ${what} ${reason}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenError(code, `token ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}
