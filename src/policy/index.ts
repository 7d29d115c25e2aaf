export type { CompiledPolicy, Decision, DecisionReason } from './types.js';
export { DECISION_REASONS } from './types.js';
export type { PolicyDocument, PolicyDocumentInput, PolicyRule } from './schema.js';
export { policyDocumentSchema, validatePolicyDocument, MAX_WHEN_LENGTH } from './schema.js';
export { parsePolicy, loadPolicyFile, compilePolicyText, WrongServiceError } from './load.js';
export { compilePolicy, type CompileOptions } from './compile.js';
export { PolicyStore } from './store.js';
export { startLocalPolicy, type PolicyEvent } from './local-file.js';
export {
  DivergenceTable,
  diverges,
  sumShadowReports,
  sumUsage,
  MAX_PAIRS,
  SAMPLES_PER_PAIR,
  type DivergencePair,
  type DivergenceSample,
  type GrantUsage,
  type Outcome,
  type PolicyReport,
  type RuleUsage,
  type ScopeUsage,
  type ShadowOutcome,
  type ShadowReport,
  type ShadowTotals,
  type UsageTotals,
} from './report.js';
export { PolicyUsage } from './usage.js';
export { ShadowPolicy, type ShadowVerdict } from './shadow.js';
export type { CatalogRule, PolicyCatalog } from './types.js';
export { ProtectedService, ServiceTable, SERVICE_EXTENSION, hostName } from './services.js';
