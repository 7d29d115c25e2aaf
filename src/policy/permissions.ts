/**
 * RBAC: permissions are ":"-separated segments (`orders:read`, `orders:items:write`).
 * A role grants permission patterns, where a segment may be "*": a "*" in the middle
 * matches exactly one segment, a trailing "*" matches one or more remaining segments,
 * and "*" alone grants every permission. `orders:*` grants `orders:read` and
 * `orders:items:write`, but not `orders` itself.
 */
import type { VerifiedToken } from '../tokens/index.js';

const SEGMENT = /^[A-Za-z0-9._\-/]+$/;

/** Why `permission` (the concrete string in `require.permission`) is invalid, or null. */
export function permissionError(permission: string): string | null {
  const segments = permission.split(':');
  if (segments.every((s) => SEGMENT.test(s))) return null;
  if (permission.includes('*')) return 'must be a concrete permission (wildcards belong in spec.roles)';
  return 'must be ":"-separated segments of letters, digits, ".", "_", "-", "/"';
}

/** Why `pattern` (a permission granted in `spec.roles`) is invalid, or null. */
export function permissionPatternError(pattern: string): string | null {
  const segments = pattern.split(':');
  if (segments.every((s) => s === '*' || SEGMENT.test(s))) return null;
  return 'must be ":"-separated segments of letters, digits, ".", "_", "-", "/", or "*"';
}

export function grants(pattern: string, permission: string): boolean {
  if (pattern === '*' || pattern === permission) return true;
  const want = pattern.split(':');
  const have = permission.split(':');
  for (let i = 0; i < want.length; i++) {
    const last = i === want.length - 1;
    if (want[i] === '*' && last) return have.length > i;
    if (i >= have.length) return false;
    if (want[i] !== '*' && want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}

/** The roles (names from `spec.roles`) whose patterns grant `permission`. */
export function rolesGranting(roles: Readonly<Record<string, readonly string[]>>, permission: string): ReadonlySet<string> {
  const out = new Set<string>();
  for (const [role, patterns] of Object.entries(roles)) {
    if (patterns.some((p) => grants(p, permission))) out.add(role);
  }
  return out;
}

/** Role names must survive the "space or comma separated" string form of the claim. */
export function roleNameError(role: string): string | null {
  return /^[^\s,]+$/.test(role) ? null : 'must be non-empty without spaces or commas';
}

/** Claim names for `rolesFrom`: dotted path of non-empty keys. */
export function claimPathError(path: string): string | null {
  return path.split('.').every((s) => s !== '') ? null : 'must be a claim name or a dotted path (a.b.c)';
}

/**
 * The caller's roles: read from `token.claims` at `rolesFrom`. The whole string is tried as
 * one claim name first (namespaced claims such as `https://example.test/roles` contain
 * dots), then as a dotted path. An array keeps its string items; a string is split on
 * spaces and commas; anything else yields no roles.
 */
export function rolesOf(token: VerifiedToken | null, rolesFrom: string): readonly string[] {
  // Not memoised per token: a memo costs ~400 bytes per cached token (measured), more than
  // reading one claim per Check costs in time.
  // An API key's roles come with its entry, whatever claim the policy reads JWT roles from.
  return token === null ? [] : (token.roles ?? readRoles(token, rolesFrom));
}

function readRoles(token: VerifiedToken, rolesFrom: string): readonly string[] {
  const value = readClaim(token.claims, rolesFrom);
  // The usual claim (an array of role names) is frozen with the token: used as it is.
  if (Array.isArray(value)) return value.every(isRoleName) ? value : value.filter(isRoleName);
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((v) => v !== '');
  return [];
}

function isRoleName(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

function readClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
