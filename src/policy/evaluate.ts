/**
 * One evaluation: DENY candidates, then ALLOW candidates in document order, then the
 * default (see the "Deciding" section in schema.ts). Pure over the compiled program; the
 * roles and the CEL activation are built only when a rule needs them, once per evaluation,
 * and a rule's path captures (`request.params`) only when its condition reads them.
 */
import type { RequestView } from '../request/index.js';
import type { AuthContext } from '../tokens/index.js';
import { buildActivation, type CelActivation } from './cel.js';
import type { RuleIndex } from './index-tree.js';
import { rolesOf } from './permissions.js';
import { hasPermission, matchesFrom, matchesTo, missingScopes, type CompiledRule } from './rule.js';
import type { Decision } from './types.js';

export interface PolicyProgram {
  readonly rules: readonly CompiledRule[];
  /** Per rule position: the decision it makes when it matches. */
  readonly ruleDecisions: readonly Decision[];
  readonly denyIndex: RuleIndex;
  readonly allowIndex: RuleIndex;
  readonly defaultDecision: Decision;
  readonly rolesFrom: string;
  /** Told about every `when` that errored or returned a non-bool (the rule failed closed). */
  readonly onConditionError?: (rule: string, error: Error) => void;
}

export function evaluatePolicy(program: PolicyProgram, request: RequestView, auth: AuthContext): Decision {
  const { rules, ruleDecisions } = program;
  const scope = new Scope(program, request, auth);

  const denies = program.denyIndex.candidates(request.method, request.path);
  for (let k = 0; k < denies.length; k++) {
    const i = denies[k];
    const rule = rules[i];
    if (matchesTo(rule, request) && matchesFrom(rule, auth) && scope.when(rule, true)) return ruleDecisions[i];
  }

  let nearMiss: Decision | null = null;
  const allows = program.allowIndex.candidates(request.method, request.path);
  for (let k = 0; k < allows.length; k++) {
    const i = allows[k];
    const rule = rules[i];
    if (!matchesTo(rule, request) || !matchesFrom(rule, auth)) continue;
    const missing = missingScopes(rule, auth);
    const permitted = hasPermission(rule, rule.permittedRoles === null ? [] : scope.roles());
    if (missing.length === 0 && permitted) {
      if (scope.when(rule, false)) return ruleDecisions[i];
    } else if (nearMiss === null && !program.defaultDecision.allow && scope.when(rule, false)) {
      nearMiss = insufficient(rule, missing);
    }
  }
  return nearMiss ?? program.defaultDecision;
}

function insufficient(rule: CompiledRule, missing: readonly string[]): Decision {
  if (missing.length > 0) {
    return { allow: false, rule: rule.name, reason: 'missing_scope', missingScopes: missing, callerIndependent: false };
  }
  return { allow: false, rule: rule.name, reason: 'missing_permission', missingScopes: [], callerIndependent: false };
}

/** Per-evaluation state that is costly to build and often not needed. */
class Scope {
  private roleList: readonly string[] | undefined;
  private activation: CelActivation | undefined;

  constructor(
    private readonly program: PolicyProgram,
    private readonly request: RequestView,
    private readonly auth: AuthContext,
  ) {}

  roles(): readonly string[] {
    this.roleList ??= rolesOf(this.auth.user ?? this.auth.service, this.program.rolesFrom);
    return this.roleList;
  }

  /** Whether the rule's `when` holds; `failClosed` is the answer when it cannot be evaluated. */
  when(rule: CompiledRule, failClosed: boolean): boolean {
    if (rule.when === null) return true;
    this.activation ??= buildActivation(this.request, this.auth, this.roles());
    // `request.params` is the rule's own: point it at this rule (captured only if read).
    if (rule.when.readsParams) this.activation.useParams(rule.params);
    const result = rule.when.evaluate(this.activation);
    if (typeof result === 'boolean') return result;
    this.program.onConditionError?.(rule.name, result);
    return failClosed;
  }
}
