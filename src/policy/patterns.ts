/**
 * Method, host and principal patterns of `to[]` and `from[]`. Each kind has an `…Error`
 * function the schema uses (reason or null) and a matcher the compiled rules use.
 */

/** RFC 9110 token characters, without "*" (omit `methods` to match any method). */
const METHOD = /^[!#$%&'+.^_`|~0-9A-Za-z-]+$/;

/**
 * Methods match exactly, and the sidecar refuses a request whose method has a lower-case
 * letter, so such an entry could never match. Refused rather than upper-cased: earlier
 * versions upper-cased it, and reading `[delete]` as the method `delete` now would quietly
 * turn a DENY rule into one that matches nothing.
 */
export function methodError(method: string): string | null {
  if (method === '*') return 'omit "methods" to match any method';
  if (!METHOD.test(method)) return 'must be an HTTP method token (e.g. GET)';
  if (method !== method.toUpperCase())
    return `must be upper-case ("${method.toUpperCase()}"): methods are case-sensitive and requests with lower-case ones are refused`;
  return null;
}

/** A host pattern: exact (`api.example.test`, `api.example.test:8443`) or `*.example.test`. */
export interface HostPattern {
  /** Lower-case exact host, or the suffix (starting with ".") for a wildcard. */
  readonly value: string;
  readonly wildcard: boolean;
  /** Whether the pattern names a port; if not, the request's port is ignored. */
  readonly withPort: boolean;
}

const HOST = /^(\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?$/;
const IPV6 = /^\[[0-9a-f:.]+\](?::[0-9]{1,5})?$/;

export function hostPatternError(host: string): string | null {
  const lower = host.toLowerCase();
  if (lower === '*') return 'omit "hosts" to match any host';
  if (HOST.test(lower) || IPV6.test(lower)) return null;
  return 'must be a host name, "[ipv6]" or "*.suffix", optionally with ":port"';
}

export function parseHostPattern(host: string): HostPattern {
  const lower = host.toLowerCase();
  const withPort = /:[0-9]+$/.test(lower) && (!lower.startsWith('[') || lower.includes(']:'));
  if (lower.startsWith('*.')) return { value: lower.slice(1), wildcard: true, withPort };
  return { value: lower, wildcard: false, withPort };
}

/** `host` as the request view carries it (lower-case, port as sent). */
export function matchHost(pattern: HostPattern, host: string): boolean {
  const candidate = pattern.withPort ? host : stripPort(host);
  if (pattern.wildcard) {
    return candidate.length > pattern.value.length && candidate.endsWith(pattern.value);
  }
  return candidate === pattern.value;
}

/** `host` without its port; an IPv6 literal keeps its brackets. */
export function stripPort(host: string): string {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return host;
  if (host.startsWith('[')) {
    return host[colon - 1] === ']' ? host.slice(0, colon) : host;
  }
  return host.slice(0, colon);
}

/**
 * A principal pattern: exact SPIFFE id, a prefix ending in "/*" (`spiffe://td/ns/shop/*`
 * matches everything below `spiffe://td/ns/shop/`), or "*" for any authenticated principal.
 */
export interface PrincipalPattern {
  readonly value: string;
  readonly prefix: boolean;
}

export function principalPatternError(principal: string): string | null {
  if (principal === '*') return null;
  if (principal === '' || /[\s\u0000-\u001f\u007f]/.test(principal)) return 'must be a non-empty id without spaces';
  const star = principal.indexOf('*');
  if (star !== -1 && (star !== principal.length - 1 || principal[star - 1] !== '/')) {
    return '"*" is allowed only as the whole pattern or last after "/"';
  }
  return null;
}

export function parsePrincipalPattern(principal: string): PrincipalPattern {
  if (principal === '*') return { value: '', prefix: true };
  if (principal.endsWith('/*')) return { value: principal.slice(0, -1), prefix: true };
  return { value: principal, prefix: false };
}

export function matchPrincipal(pattern: PrincipalPattern, principal: string): boolean {
  if (principal === '') return false;
  if (pattern.prefix) return principal.length > pattern.value.length && principal.startsWith(pattern.value);
  return principal === pattern.value;
}
