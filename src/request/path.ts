import { RequestError } from './errors.js';

export interface NormalizedPath {
  /** Origin-form path, dot-segments resolved, only unreserved escapes decoded. */
  readonly path: string;
  /** Decoded query (null prototype); a repeated key keeps its first value. */
  readonly query: Record<string, string>;
}

export interface NormalizePathOptions {
  /** Longest accepted path (before `?`), in bytes. Default 4096. */
  maxLength?: number;
}

export const DEFAULT_MAX_PATH_LENGTH = 4096;

const SLASH = 0x2f;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;
const DEL = 0x7f;

/**
 * Turns `:path` into the form policy matches against, so that every spelling a backend
 * would route to the same resource matches the same rules.
 *
 * Decisions:
 * - Only unreserved escapes are decoded (RFC 3986 §6.2.2.2); they mean the same thing
 *   decoded or not. Other escapes stay, hex upper-cased, so `/a%3ab` matches `/a%3Ab`.
 * - What backends disagree on is rejected rather than guessed: encoded `/` and `\`,
 *   literal `\`, `;` and `%3B` (path parameters), NUL/control/space/non-ASCII, `..`
 *   above root.
 * - `%25` (an escaped "%") is kept as `%25`, but not when two hex digits follow it in the
 *   segment (`%252e`, `%25%32%65`, `%25252F`): a backend that decodes twice would see an
 *   escape there, so the path it serves is not the one policy matched. Which second-level
 *   escapes are harmless depends on the backend, so all of them are refused, not only those
 *   of `.`, `/`, `\`, `;` and `%`. The check runs on the decoded segment, before `..` is
 *   resolved: a segment a `..` removes here may not be removed by the backend.
 * - `//` merges into `/`; `.`/`..` follow remove_dot_segments (RFC 3986 §5.2.4), so a
 *   trailing slash is kept and a trailing dot-segment leaves one (`/a/b/..` → `/a/`).
 * - The length limit applies to the path part only; the query is bounded by the header
 *   size limit Envoy and the view enforce.
 */
export function normalizePath(raw: string, options: NormalizePathOptions = {}): NormalizedPath {
  const { path, pathEnd } = normalizePathOnly(raw, options);
  return { path, query: parseQuery(raw, pathEnd) };
}

/**
 * The normalised path and where it ends in `raw` (at `?`, `#` or the end), without parsing
 * the query: the request view parses it only when a condition reads it.
 */
export function normalizePathOnly(raw: string, options: NormalizePathOptions = {}): { path: string; pathEnd: number } {
  const maxLength = options.maxLength ?? DEFAULT_MAX_PATH_LENGTH;
  let end = 0;
  while (end < raw.length) {
    const c = raw.charCodeAt(end);
    if (c === QUESTION || c === HASH) break;
    end++;
  }
  if (end === 0 || raw.charCodeAt(0) !== SLASH) throw new RequestError('invalid_path', 'path must start with "/"');
  if (end > maxLength) throw new RequestError('invalid_path', `path longer than ${maxLength} bytes`);

  return { path: normalizeSegments(raw, end), pathEnd: end };
}

function normalizeSegments(raw: string, end: number): string {
  const segments: string[] = [];
  let trailingSlash = false;
  let segment = '';
  let runStart = 1;
  // Set when the segment holds a kept `%25`, so only those segments are scanned.
  let escapedPercent = false;
  // `end` acts as a final "/" so the last segment is handled by the same branch.
  for (let i = 1; i <= end; i++) {
    const c = i < end ? raw.charCodeAt(i) : SLASH;
    if (c === SLASH) {
      segment += raw.slice(runStart, i);
      runStart = i + 1;
      if (escapedPercent) {
        checkDoubleEncoding(segment);
        escapedPercent = false;
      }
      if (segment === '' || segment === '.') {
        trailingSlash = true;
      } else if (segment === '..') {
        if (segments.pop() === undefined) throw new RequestError('path_traversal', 'path climbs above "/"');
        trailingSlash = true;
      } else {
        segments.push(segment);
        trailingSlash = false;
      }
      segment = '';
    } else if (c === PERCENT) {
      const decoded = decodeEscape(raw, i, end);
      if (decoded === ESCAPED_PERCENT) escapedPercent = true;
      segment += raw.slice(runStart, i) + decoded;
      i += 2;
      runStart = i + 1;
    } else {
      checkLiteral(c);
    }
  }
  if (segments.length === 0) return '/';
  return '/' + segments.join('/') + (trailingSlash ? '/' : '');
}

function checkLiteral(c: number): void {
  if (c <= 0x20 || c >= DEL) throw new RequestError('invalid_path', 'path contains a control, space or non-ASCII character');
  if (c === BACKSLASH) throw new RequestError('encoded_separator', 'path contains "\\"');
  if (c === SEMICOLON) throw new RequestError('path_parameters', 'path contains ";"');
}

const ESCAPED_PERCENT = '%25';

/**
 * Refuses a `%25` followed by two hex digits: what a second decode would turn into an escape.
 * `segment` is decoded (unreserved escapes) so `%25%32%65` is seen as `%252e` here.
 */
function checkDoubleEncoding(segment: string): void {
  let at = segment.indexOf(ESCAPED_PERCENT);
  while (at >= 0) {
    if (hexValue(segment.charCodeAt(at + 3)) >= 0 && hexValue(segment.charCodeAt(at + 4)) >= 0) {
      throw new RequestError('double_encoded_path', 'path contains an escaped "%" that forms another escape');
    }
    at = segment.indexOf(ESCAPED_PERCENT, at + 3);
  }
}

/** The escape at `raw[i]` ("%XY"), either decoded (unreserved) or re-spelt with upper-case hex. */
function decodeEscape(raw: string, i: number, end: number): string {
  const hi = i + 2 < end ? hexValue(raw.charCodeAt(i + 1)) : -1;
  const lo = hi < 0 ? -1 : hexValue(raw.charCodeAt(i + 2));
  if (lo < 0) throw new RequestError('invalid_path', 'path contains a malformed "%" escape');
  const byte = hi * 16 + lo;
  if (isUnreserved(byte)) return String.fromCharCode(byte);
  if (byte === SLASH || byte === BACKSLASH) throw new RequestError('encoded_separator', 'path contains an encoded "/" or "\\"');
  if (byte === SEMICOLON) throw new RequestError('path_parameters', 'path contains an encoded ";"');
  if (byte < 0x20 || byte === DEL) throw new RequestError('invalid_path', 'path contains an encoded control character');
  return '%' + HEX[hi] + HEX[lo];
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3). */
function isUnreserved(c: number): boolean {
  const lower = c | 0x20;
  return (lower >= 0x61 && lower <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

/**
 * application/x-www-form-urlencoded style: "+" is a space. A bad escape keeps the raw
 * text instead of failing the request: the query is data for conditions, not routing.
 */
export function parseQuery(raw: string, pathEnd: number): Record<string, string> {
  const query = Object.create(null) as Record<string, string>;
  if (raw.charCodeAt(pathEnd) !== QUESTION) return query;
  let end = raw.indexOf('#', pathEnd + 1);
  if (end < 0) end = raw.length;
  let start = pathEnd + 1;
  while (start < end) {
    let stop = raw.indexOf('&', start);
    if (stop < 0 || stop > end) stop = end;
    if (stop > start) {
      const eq = raw.indexOf('=', start);
      const hasValue = eq >= 0 && eq < stop;
      const key = decodeQueryPart(raw.slice(start, hasValue ? eq : stop));
      if (!(key in query)) query[key] = hasValue ? decodeQueryPart(raw.slice(eq + 1, stop)) : '';
    }
    start = stop + 1;
  }
  return query;
}

function decodeQueryPart(text: string): string {
  if (text.indexOf('%') < 0 && text.indexOf('+') < 0) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}
