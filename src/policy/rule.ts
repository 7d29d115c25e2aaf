/** A rule compiled from the document, and the checks the evaluator runs on it. */
import type { RequestView } from '../request/index.js';
import type { AuthContext } from '../tokens/index.js';
import type { CompiledCondition, ParamsSource } from './cel.js';
import { matchPath, matchTemplate, type PathPattern } from './paths.js';
import { matchHost, matchPrincipal, type HostPattern, type PrincipalPattern } from './patterns.js';

export interface CompiledTarget {
  /** null = any method. */
  readonly methods: ReadonlySet<string> | null;
  readonly paths: readonly PathPattern[] | null;
  readonly hosts: readonly HostPattern[] | null;
}

export interface CompiledSource {
  readonly issuers: ReadonlySet<string> | null;
  readonly subjects: ReadonlySet<string> | null;
  readonly principals: readonly PrincipalPattern[] | null;
}

export interface CompiledRule {
  /** Position in `spec.rules`; candidates are visited in this order. */
  readonly index: number;
  readonly name: string;
  readonly action: 'ALLOW' | 'DENY';
  /** null = any request. */
  readonly to: readonly CompiledTarget[] | null;
  /** null = anyone. */
  readonly from: readonly CompiledSource[] | null;
  readonly scopes: readonly string[];
  /** Roles (from `spec.roles`) that grant `require.permission`; null = no permission required. */
  readonly permittedRoles: ReadonlySet<string> | null;
  readonly when: CompiledCondition | null;
  /** Where `request.params` comes from; null when no path of the rule captures a variable. */
  readonly params: RuleParams | null;
}

export function matchesTo(rule: CompiledRule, request: RequestView): boolean {
  if (rule.to === null) return true;
  for (const target of rule.to) {
    if (target.methods !== null && !target.methods.has(request.method)) continue;
    if (target.paths !== null && !anyPath(target.paths, request.path)) continue;
    if (target.hosts !== null && !anyHost(target.hosts, request.host)) continue;
    return true;
  }
  return false;
}

// Loops rather than `.some(closure)`: a closure over the request is an allocation per rule per Check.
function anyPath(patterns: readonly PathPattern[], path: string): boolean {
  for (let i = 0; i < patterns.length; i++) if (matchPath(patterns[i], path)) return true;
  return false;
}

function anyHost(patterns: readonly HostPattern[], host: string): boolean {
  for (let i = 0; i < patterns.length; i++) if (matchHost(patterns[i], host)) return true;
  return false;
}

/**
 * A rule's `request.params`: the captures of the first `to` entry (document order) that
 * matches the request, and in it the first of its `paths` that matches; empty when that
 * entry has no paths or the pattern captures nothing. Computed only when a condition reads
 * `request.params` (the CEL activation asks once per rule per Check).
 */
export class RuleParams implements ParamsSource {
  constructor(private readonly to: readonly CompiledTarget[]) {}

  paramsOf(request: RequestView): Readonly<Record<string, string>> {
    for (const target of this.to) {
      if (target.methods !== null && !target.methods.has(request.method)) continue;
      if (target.hosts !== null && !anyHost(target.hosts, request.host)) continue;
      if (target.paths === null) return NO_PARAMS;
      for (const pattern of target.paths) {
        if (!matchPath(pattern, request.path)) continue;
        if (pattern.kind !== 'template' || pattern.names.length === 0) return NO_PARAMS;
        const captures = Object.create(null) as Record<string, string>;
        matchTemplate(pattern, request.path, captures);
        return Object.freeze(captures);
      }
    }
    return NO_PARAMS;
  }
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

export function matchesFrom(rule: CompiledRule, auth: AuthContext): boolean {
  if (rule.from === null) return true;
  for (const source of rule.from) {
    if (source.issuers !== null && !(auth.user !== null && source.issuers.has(auth.user.issuer))) continue;
    if (source.subjects !== null && !(auth.user !== null && source.subjects.has(auth.user.subject))) continue;
    if (source.principals !== null) {
      const principal = auth.principal ?? '';
      if (!source.principals.some((p) => matchPrincipal(p, principal))) continue;
    }
    return true;
  }
  return false;
}

/** The required scopes the user token lacks (all of them when there is no user token). */
const NONE_MISSING: readonly string[] = Object.freeze([]);

export function missingScopes(rule: CompiledRule, auth: AuthContext): readonly string[] {
  if (rule.scopes.length === 0) return rule.scopes;
  const held = auth.user?.scopes ?? [];
  // The usual answer (every scope held) without allocating.
  if (rule.scopes.every((s) => held.includes(s))) return NONE_MISSING;
  return rule.scopes.filter((s) => !held.includes(s));
}

export function hasPermission(rule: CompiledRule, roles: readonly string[]): boolean {
  const permitted = rule.permittedRoles;
  return permitted === null || roles.some((r) => permitted.has(r));
}
