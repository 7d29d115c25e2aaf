import { LRUCache } from 'lru-cache';
import type { AuthContext } from '../tokens/index.js';
import type { IssuerConfig } from '../config/index.js';

export const SUBJECT_HEADER = 'x-auth-subject';
export const ISSUER_HEADER = 'x-auth-issuer';
export const PRINCIPAL_HEADER = 'x-auth-principal';

type Mapping = ReadonlyArray<readonly [path: readonly string[], header: string]>;

/** Distinct caller identities whose headers (and encoded allow) are kept for reuse. */
const INTERNED_IDENTITIES = 4096;

/**
 * The headers the sidecar tells the upstream about the caller. Every managed name is
 * either set with overwrite or listed in headers_to_remove on each allow, so a client can
 * never smuggle its own `x-auth-subject` through.
 */
export class IdentityHeaders {
  /** Every header name the sidecar owns, sorted, for headers_to_remove. */
  readonly managed: readonly string[];
  /** Nobody identified: set nothing, strip every managed header. */
  private readonly anonymous: CallerHeaders;
  private readonly byIssuer: ReadonlyMap<string, Mapping>;

  constructor(issuers: readonly IssuerConfig[]) {
    const managed = new Set([SUBJECT_HEADER, ISSUER_HEADER, PRINCIPAL_HEADER]);
    const byIssuer = new Map<string, Mapping>();
    for (const issuer of issuers) {
      const mapping = Object.entries(issuer.claimsToHeaders).map(([claim, header]) => {
        managed.add(header);
        return [claim.split('.'), header] as const;
      });
      byIssuer.set(issuer.name, mapping);
    }
    this.managed = Object.freeze([...managed].sort());
    this.anonymous = Object.freeze({ set: Object.freeze([]), remove: this.managed });
    this.byIssuer = byIssuer;
  }

  /** Headers to set for this caller, and the managed names to strip because they are not set. */
  forCaller(auth: AuthContext): CallerHeaders {
    const user = auth.user;
    if (auth.principal === null) {
      if (user === null) return this.anonymous;
      // A verified token is immutable and cached: its headers are worked out once.
      let headers = this.byToken.get(user);
      if (headers === undefined) {
        headers = this.compute(auth);
        this.byToken.set(user, headers);
      }
      return headers;
    }
    return this.compute(auth);
  }

  private readonly byToken = new WeakMap<object, CallerHeaders>();

  /**
   * One CallerHeaders object per distinct identity (the headers and their values), recently
   * used ones kept. Callers downstream memoise per object (the encoded OkHttpResponse), so a
   * new token of a known caller, or an mTLS caller whose headers are computed per request,
   * reuses that work instead of building and encoding it again.
   */
  private readonly byContent = new LRUCache<string, CallerHeaders>({ max: INTERNED_IDENTITIES });

  private compute(auth: AuthContext): CallerHeaders {
    const set: Array<readonly [string, string]> = [];
    const user = auth.user;
    if (user !== null) {
      pushHeader(set, SUBJECT_HEADER, user.subject);
      pushHeader(set, ISSUER_HEADER, user.issuer);
      for (const [path, header] of this.byIssuer.get(user.issuerName) ?? []) {
        const value = claimAt(user.claims, path);
        if (value !== undefined && value !== null) pushHeader(set, header, headerValue(value));
      }
    }
    if (auth.principal !== null) pushHeader(set, PRINCIPAL_HEADER, auth.principal);
    // Names are tokens and values never hold NUL (pushHeader), so NUL-joining is unambiguous.
    let key = '';
    for (const [name, value] of set) key += `${name}\0${value}\0`;
    const known = this.byContent.get(key);
    if (known !== undefined) return known;
    const remove = this.managed.filter((name) => !set.some(([setName]) => setName === name));
    const headers: CallerHeaders = Object.freeze({ set: Object.freeze(set), remove: Object.freeze(remove) });
    this.byContent.set(key, headers);
    return headers;
  }
}

export interface CallerHeaders {
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly remove: readonly string[];
}

function claimAt(claims: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (const part of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Arrays (scopes, roles) join with ","; objects become JSON; null/undefined are omitted. */
export function headerValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

// Control characters would let a signed-but-odd claim split or corrupt the upstream request.
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function pushHeader(set: Array<readonly [string, string]>, name: string, value: string): void {
  if (value === '' || value.length > 8192 || UNSAFE.test(value)) return;
  if (set.some(([existing]) => existing === name)) return;
  set.push([name, value]);
}
