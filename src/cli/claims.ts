/** `--claim k=v` options → a JWT payload fragment. */
import { UsageError } from './command.js';
import { jsonOrString, parseKeyValue } from './values.js';

type Json = Record<string, unknown>;

// Keys that would reach Object.prototype when assigned on a plain object.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Builds claims from `k=v` strings. Values go through `jsonOrString`; a dotted key builds
 * nested objects (`realm.roles=["a"]` → `{ realm: { roles: ["a"] } }`), merging with other
 * claims under the same prefix. A later `--claim` for the same key wins.
 */
export function parseClaims(items: readonly string[]): Json {
  const claims: Json = {};
  for (const item of items) {
    const [key, raw] = parseKeyValue(item, '--claim');
    setPath(claims, key, jsonOrString(raw));
  }
  return claims;
}

/** Sets `value` at dotted `key`, creating intermediate objects. */
export function setPath(target: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  if (parts.some((p) => p === '' || FORBIDDEN_KEYS.has(p))) {
    throw new UsageError(`--claim ${key}: each part of a dotted claim name must be a non-empty name`);
  }
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i];
    const next = node[part];
    if (next === undefined) {
      node = node[part] = {};
    } else if (isObject(next)) {
      node = next;
    } else {
      throw new UsageError(`--claim ${key}: ${parts.slice(0, i + 1).join('.')} is already set to a non-object value`);
    }
  }
  node[parts[parts.length - 1]] = value;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** OAuth scopes the way the sidecar reads them: `scope` (space-separated) or `scp` (array or string). */
export function scopesOf(claims: Readonly<Json>): string[] {
  const source = claims.scope ?? claims.scp;
  if (typeof source === 'string') return source.split(/\s+/).filter(Boolean);
  if (Array.isArray(source)) return source.filter((s): s is string => typeof s === 'string');
  return [];
}
