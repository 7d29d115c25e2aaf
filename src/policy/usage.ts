import { rolesOf } from './permissions.js';
import { grantKey, ruleKey, type GrantUsage, type PolicyReport, type RuleUsage, type ScopeUsage } from './report.js';
import type { AuthContext } from '../tokens/index.js';
import type { CompiledPolicy, Decision } from './types.js';

/**
 * How often each rule and role grant of the enforced policy decided a Check since the sidecar
 * started: the evidence `authzctl policy unused` sums across the fleet. A rule is hit when its
 * own decision is the answer (an ALLOW rule allowing, a DENY rule denying); a grant when it
 * gave an allowed caller the rule's required permission; a scope when an ALLOW rule requiring
 * it allowed. Counts are kept by name, so a new revision keeps the counts of the rules and
 * grants it keeps.
 *
 * Per Check: one identity lookup and an array increment; the caller's roles are read only when
 * the allowing rule requires a permission.
 */
export class PolicyUsage {
  readonly startedAt: string;
  private checks = 0;
  /** Counts of policies no longer current, by `action\0name` and `role\0permission`. */
  private readonly ruleTotals = new Map<string, number>();
  private readonly grantTotals = new Map<string, number>();
  /** The policy the arrays count for, by position in its catalog. */
  private policy: CompiledPolicy | null = null;
  private ruleCounts = new Float64Array(0);
  private grantCounts = new Float64Array(0);

  constructor(now: () => number = Date.now) {
    this.startedAt = new Date(now()).toISOString();
  }

  record(policy: CompiledPolicy, decision: Decision, auth: AuthContext): void {
    this.checks++;
    const { catalog } = policy;
    const i = catalog.ruleOf(decision);
    if (i < 0) return;
    if (policy !== this.policy) this.countFor(policy);
    this.ruleCounts[i]++;
    const grants = catalog.rules[i].grants;
    if (grants.length === 0 || !decision.allow) return;
    const roles = rolesOf(auth.user ?? auth.service, catalog.rolesFrom);
    for (const g of grants) if (roles.includes(catalog.grants[g].role)) this.grantCounts[g]++;
  }

  /** The usage part of a PolicyReport, for the policy now in force (null: none loaded yet). */
  report(policy: CompiledPolicy | null): Pick<PolicyReport, 'checks' | 'rules' | 'grants' | 'scopes'> {
    if (policy === null) return { checks: this.checks, rules: [], grants: [], scopes: [] };
    if (policy !== this.policy) this.countFor(policy);
    const { catalog } = policy;
    const rules: RuleUsage[] = catalog.rules.map((r, i) => ({
      name: r.name,
      action: r.action,
      hits: this.ruleCounts[i] + (this.ruleTotals.get(ruleKey(r.action, r.name)) ?? 0),
    }));
    const grants: GrantUsage[] = catalog.grants.map((g, i) => ({
      role: g.role,
      permission: g.permission,
      hits: this.grantCounts[i] + (this.grantTotals.get(grantKey(g.role, g.permission)) ?? 0),
    }));
    const scopeHits = new Map<string, number>();
    catalog.rules.forEach((r, i) => {
      if (r.action !== 'ALLOW') return;
      for (const scope of r.scopes) scopeHits.set(scope, (scopeHits.get(scope) ?? 0) + rules[i].hits);
    });
    const scopes: ScopeUsage[] = [...scopeHits].map(([scope, hits]) => ({ scope, hits }));
    return { checks: this.checks, rules, grants, scopes };
  }

  /** Moves the counts of the policy counted so far into the totals by name; counts `policy` from zero. */
  private countFor(policy: CompiledPolicy): void {
    const old = this.policy;
    if (old !== null) {
      old.catalog.rules.forEach((r, i) => add(this.ruleTotals, ruleKey(r.action, r.name), this.ruleCounts[i]));
      old.catalog.grants.forEach((g, i) => add(this.grantTotals, grantKey(g.role, g.permission), this.grantCounts[i]));
    }
    this.policy = policy;
    this.ruleCounts = new Float64Array(policy.catalog.rules.length);
    this.grantCounts = new Float64Array(policy.catalog.grants.length);
  }
}

function add(map: Map<string, number>, key: string, n: number): void {
  if (n > 0) map.set(key, (map.get(key) ?? 0) + n);
}
