import type { RequestView } from '../request/index.js';
import type { AuthContext } from '../tokens/index.js';

/** Why a decision came out the way it did; stable codes used in logs, metrics and deny bodies. */
export const DECISION_REASONS = Object.freeze([
  'allowed_by_rule',
  'default_allow',
  'denied_by_rule',
  'default_deny',
  'missing_scope',
  'missing_permission',
] as const);
export type DecisionReason = (typeof DECISION_REASONS)[number];

export interface Decision {
  readonly allow: boolean;
  /** Name of the rule that decided; null when `defaultAction` decided. */
  readonly rule: string | null;
  readonly reason: DecisionReason;
  /**
   * When reason is `missing_scope`: the scopes the nearest ALLOW rule required that the
   * caller lacked (for RFC 6750 `insufficient_scope`). Empty otherwise.
   */
  readonly missingScopes: readonly string[];
  /**
   * The deciding rule looks at nothing about the caller (no `from`, no scopes or permission,
   * a `when` that reads neither `request.auth` nor `source.principal`): every caller, signed
   * in or not, gets this decision. False for the default and near-miss decisions.
   */
  readonly callerIndependent: boolean;
}

/** A policy revision compiled into its index; immutable and safe to share across Checks. */
export interface CompiledPolicy {
  readonly name: string;
  readonly service: string;
  /** Opaque revision label (file mtime+hash locally, KV revision over NATS). */
  readonly revision: string;
  readonly ruleCount: number;
  /** `spec.failOpen`: allow without identity when the decision cannot be made (keys unavailable, internal error). */
  readonly failOpen: boolean;
  evaluate(request: RequestView, auth: AuthContext): Decision;
  /** What usage is counted against (policy/usage.ts): the rules in document order and every role grant. */
  readonly catalog: PolicyCatalog;
}

/** A policy's rules and role grants as usage reports name them. */
export interface PolicyCatalog {
  readonly rules: readonly CatalogRule[];
  /** Every `spec.roles` entry: role → permission pattern, in document order. */
  readonly grants: readonly { readonly role: string; readonly permission: string }[];
  /** `spec.rolesFrom`. */
  readonly rolesFrom: string;
  /** The rule whose own decision this is (allowed_by_rule, denied_by_rule), else -1. Identity lookup. */
  ruleOf(decision: Decision): number;
}

export interface CatalogRule {
  readonly name: string;
  readonly action: 'ALLOW' | 'DENY';
  readonly scopes: readonly string[];
  /** Positions in `grants` of the grants that give this rule's required permission; empty when it requires none. */
  readonly grants: readonly number[];
}
