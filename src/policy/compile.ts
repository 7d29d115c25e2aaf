/** A validated policy document → an immutable CompiledPolicy (rules, indexes, CEL programs). */
import { DocumentError } from '../config/document-error.js';
import { compileCondition, ConditionError, type CompiledCondition } from './cel.js';
import { evaluatePolicy, type PolicyProgram } from './evaluate.js';
import { RuleIndex } from './index-tree.js';
import { parsePathPattern } from './paths.js';
import { parseHostPattern, parsePrincipalPattern } from './patterns.js';
import { rolesGranting } from './permissions.js';
import type { CompiledRule, CompiledSource, CompiledTarget } from './rule.js';
import type { PolicyDocument, PolicyRule } from './schema.js';
import type { CompiledPolicy, Decision } from './types.js';

export interface CompileOptions {
  /** Opaque revision label carried by the compiled policy (and into decision metadata). */
  readonly revision: string;
  /** Names the document in errors; default "policy". */
  readonly file?: string;
  /** Told about every `when` that failed at evaluation (the rule then failed closed). */
  readonly onConditionError?: (rule: string, error: Error) => void;
}

/**
 * Compiles a document that `validatePolicyDocument` (or `parsePolicy`) accepted.
 * Throws DocumentError when a `when` expression does not compile.
 */
export function compilePolicy(doc: PolicyDocument, options: CompileOptions): CompiledPolicy {
  const file = options.file ?? 'policy';
  const { spec } = doc;
  const rules = spec.rules.map((rule, i) => compileRule(rule, i, spec.roles, file));
  const denyIndex = new RuleIndex();
  const allowIndex = new RuleIndex();
  for (const rule of rules) indexRule(rule.action === 'DENY' ? denyIndex : allowIndex, rule);

  const program: PolicyProgram = {
    rules,
    ruleDecisions: rules.map((r) => ruleDecision(r)),
    denyIndex,
    allowIndex,
    defaultDecision: spec.defaultAction === 'ALLOW' ? DEFAULT_ALLOW : DEFAULT_DENY,
    rolesFrom: spec.rolesFrom,
    onConditionError: options.onConditionError,
  };
  return Object.freeze({
    name: doc.metadata.name,
    service: doc.metadata.service,
    revision: options.revision,
    ruleCount: rules.length,
    failOpen: spec.failOpen,
    evaluate: (request, auth) => evaluatePolicy(program, request, auth),
  } satisfies CompiledPolicy);
}

function compileRule(
  rule: PolicyRule,
  index: number,
  roles: Readonly<Record<string, readonly string[]>>,
  file: string,
): CompiledRule {
  return {
    index,
    name: rule.name,
    action: rule.action,
    to: rule.to?.map(compileTarget) ?? null,
    from: rule.from?.map(compileSource) ?? null,
    scopes: rule.require?.scopes ?? [],
    permittedRoles: rule.require?.permission === undefined ? null : rolesGranting(roles, rule.require.permission),
    when: rule.when === undefined ? null : compileWhen(rule.when, `spec.rules[${index}].when`, file),
  };
}

function compileTarget(to: NonNullable<PolicyRule['to']>[number]): CompiledTarget {
  return {
    methods: to.methods ? new Set(to.methods) : null,
    paths: to.paths?.map(parsePathPattern) ?? null,
    hosts: to.hosts?.map(parseHostPattern) ?? null,
  };
}

function compileSource(from: NonNullable<PolicyRule['from']>[number]): CompiledSource {
  return {
    issuers: from.issuers ? new Set(from.issuers) : null,
    subjects: from.subjects ? new Set(from.subjects) : null,
    principals: from.principals?.map(parsePrincipalPattern) ?? null,
  };
}

function compileWhen(source: string, field: string, file: string): CompiledCondition {
  try {
    return compileCondition(source);
  } catch (error) {
    if (error instanceof ConditionError) throw new DocumentError(file, field, error.message);
    throw error;
  }
}

function indexRule(index: RuleIndex, rule: CompiledRule): void {
  if (rule.to === null) return index.add(rule.index, null, null);
  for (const target of rule.to) {
    index.add(rule.index, target.methods ? [...target.methods] : null, target.paths);
  }
}

function ruleDecision(rule: CompiledRule): Decision {
  return rule.action === 'ALLOW'
    ? Object.freeze({ allow: true, rule: rule.name, reason: 'allowed_by_rule', missingScopes: [] })
    : Object.freeze({ allow: false, rule: rule.name, reason: 'denied_by_rule', missingScopes: [] });
}

const DEFAULT_ALLOW: Decision = Object.freeze({ allow: true, rule: null, reason: 'default_allow', missingScopes: [] });
const DEFAULT_DENY: Decision = Object.freeze({ allow: false, rule: null, reason: 'default_deny', missingScopes: [] });
