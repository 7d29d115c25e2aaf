import type { TokenSource } from '../config/index.js';
import type { RequestView } from '../request/index.js';
import { TokenError } from './errors.js';

/** A token found in one of the configured sources. */
export interface FoundToken {
  /** The configured source it came from (the same object as in the config). */
  readonly source: TokenSource;
  readonly token: string;
}

/** An HTTP auth-scheme followed by one space ("Bearer "): matched like RFC 9110 §11.1 credentials. */
const AUTH_SCHEME_PREFIX = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+ $/;
const OWS = /^[ \t]+|[ \t]+$/g;
/** Whitespace and controls: ASCII ones up to space, and Unicode spaces. One native scan. */
const WHITESPACE_OR_CONTROL = /[\x00-\x20\s]/;

type HeaderSource = Extract<TokenSource, { header: string }>;

interface PlannedSource {
  readonly source: HeaderSource;
  /** The prefix as given. */
  readonly prefix: string;
  /** Lower-cased auth-scheme ("bearer") when the prefix is one ("Bearer "), compared case-insensitively. */
  readonly scheme: string | null;
}

/**
 * The configured token sources, grouped once (the config lives as long as the process).
 * Sources naming the same header with different prefixes are tried together (longest prefix
 * first), so `Bearer` for one issuer and `DPoP` for another do not make each other's
 * requests malformed.
 */
export class TokenSources {
  readonly #headers: ReadonlyArray<{ readonly name: string; readonly sources: readonly PlannedSource[] }>;
  readonly #cookies: ReadonlyArray<{ readonly name: string; readonly source: TokenSource }>;

  constructor(sources: readonly TokenSource[]) {
    const byHeader = new Map<string, PlannedSource[]>();
    const cookies = new Map<string, TokenSource>();
    for (const source of sources) {
      if (!('header' in source)) {
        cookies.set(source.cookie, source);
        continue;
      }
      const prefix = source.prefix ?? '';
      const planned = { source, prefix, scheme: AUTH_SCHEME_PREFIX.test(prefix) ? prefix.slice(0, -1).toLowerCase() : null };
      byHeader.set(source.header, [...(byHeader.get(source.header) ?? []), planned]);
    }
    this.#headers = [...byHeader].map(([name, group]) => ({ name, sources: group.sort((a, b) => b.prefix.length - a.prefix.length) }));
    this.#cookies = [...cookies].map(([name, source]) => ({ name, source }));
  }

  /**
   * Every token the request carries, at most one per header name and per cookie name.
   * Anything ambiguous throws: the same header or cookie twice, two credentials in one
   * value. Never "pick one".
   */
  find(view: RequestView): FoundToken[] {
    const found: FoundToken[] = [];
    for (let i = 0; i < this.#headers.length; i++) {
      const { name, sources } = this.#headers[i];
      const hit = fromHeader(view, name, sources);
      if (hit !== null) found.push(hit);
    }
    for (let i = 0; i < this.#cookies.length; i++) {
      const { name, source } = this.#cookies[i];
      const token = fromCookie(view, name);
      if (token !== null) found.push({ source, token });
    }
    return found;
  }
}

/** Every token the request carries in `sources` (see TokenSources; compile those once where it matters). */
export function findTokens(view: RequestView, sources: readonly TokenSource[]): FoundToken[] {
  return new TokenSources(sources).find(view);
}

/** Optional whitespace (space, tab) trimmed at both ends, without a regex on the common clean value. */
function trimOws(text: string): string {
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  if (first !== 0x20 && first !== 0x09 && last !== 0x20 && last !== 0x09) return text;
  return text.replace(OWS, '');
}

/** The token of one source, or null when the request does not carry that header/cookie. */
export function extractToken(view: RequestView, source: TokenSource): string | null {
  return findTokens(view, [source])[0]?.token ?? null;
}

function fromHeader(view: RequestView, name: string, sources: readonly PlannedSource[]): FoundToken | null {
  // Checked before the value exists: a header sent twice is ambiguous even if one copy is empty.
  if (view.repeatedHeaders.has(name)) throw new TokenError('credentials_duplicated', `header ${name} sent more than once`);
  const raw = view.headers[name];
  if (raw === undefined) return null;
  const value = trimOws(raw);
  for (const planned of sources) {
    const rest = stripPrefix(value, planned);
    if (rest !== null) return { source: planned.source, token: singleToken(rest, `header ${name}`) };
  }
  throw new TokenError('credentials_malformed', `header ${name} does not start with the expected scheme`);
}

/** The value after the prefix, or null when it does not start with it. */
function stripPrefix(value: string, { prefix, scheme }: PlannedSource): string | null {
  if (prefix === '') return value;
  if (scheme === null) return value.startsWith(prefix) ? value.slice(prefix.length) : null;
  // Auth-schemes are case-insensitive and may be followed by more than one space.
  const n = scheme.length;
  if (value.length <= n || value.charCodeAt(n) !== 0x20) return null;
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== scheme.charCodeAt(i)) return null;
  }
  let start = n + 1;
  while (value.charCodeAt(start) === 0x20) start++;
  return value.slice(start);
}

/** A JWT never contains ',' or whitespace: a ',' is Envoy joining two headers, a space is two words. */
function singleToken(text: string, where: string): string {
  if (text === '') throw new TokenError('credentials_malformed', `${where} carries an empty credential`);
  if (text.includes(',')) throw new TokenError('credentials_duplicated', `${where} carries more than one credential`);
  if (WHITESPACE_OR_CONTROL.test(text)) throw new TokenError('credentials_malformed', `${where} is not a single token`);
  return text;
}

/**
 * RFC 6265 cookie header. HTTP/2 clients send one `cookie` header per cookie and the view
 * joins repeats with ","; cookie values cannot contain "," or ";", so both separate pairs.
 */
function fromCookie(view: RequestView, name: string): string | null {
  const header = view.headers['cookie'];
  // No pair can be named `name` unless the text occurs: skip the split on the common request.
  if (header === undefined || !header.includes(name)) return null;
  const values: string[] = [];
  for (const pair of header.split(/[;,]/)) {
    const eq = pair.indexOf('=');
    if (eq >= 0 && trimOws(pair.slice(0, eq)) === name) values.push(trimOws(pair.slice(eq + 1)));
  }
  if (values.length === 0) return null;
  if (values.length > 1) throw new TokenError('credentials_duplicated', `cookie ${name} sent more than once`);
  let value = values[0];
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return singleToken(value, `cookie ${name}`);
}
