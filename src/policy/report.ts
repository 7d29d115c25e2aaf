/**
 * What a sidecar reports about its policies from real traffic, and how reports add up across
 * the fleet: the shadow policy's divergence from the enforced one, and how often each rule,
 * role grant and required scope was used. The sidecar builds these (runtime/policy-usage.ts),
 * `authzctl policy replay` builds the same divergence table offline, and `authzctl shadow
 * report` / `policy unused` sum the reports of every sidecar of a service.
 *
 * Nothing here holds a token or a claim value other than the subject.
 */
import type { Decision, DecisionReason } from './types.js';

export type Outcome = 'allow' | 'deny';

/** The shadow's side of a pair: a decision, or `error` when evaluating the shadow threw. */
export type ShadowOutcome = Outcome | 'error';

/** One Check where the two policies decided differently; only what a log line may hold. */
export interface DivergenceSample {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  /** The user token's `sub`, else the service principal, else null (anonymous). */
  readonly subject: string | null;
  readonly at: string;
}

/** How many Checks got this (enforced, shadow) pair of decisions; samples only when they differ. */
export interface DivergencePair {
  readonly enforced: Outcome;
  readonly enforcedReason: DecisionReason;
  /** The deciding rule, null when the default decided. */
  readonly enforcedRule: string | null;
  readonly shadow: ShadowOutcome;
  readonly shadowReason: DecisionReason | 'internal_error';
  readonly shadowRule: string | null;
  readonly count: number;
  readonly samples: readonly DivergenceSample[];
}

export interface ShadowReport {
  /** The shadow policy's metadata.name and revision. */
  readonly name: string;
  readonly revision: string;
  /** When this shadow revision started being evaluated here. */
  readonly since: string;
  /** Checks the shadow was evaluated for (every Check the enforced policy decided). */
  readonly evaluated: number;
  /** Of those, how many the shadow decided the other way (allow against deny). */
  readonly divergent: number;
  /** Shadow evaluations that threw (counted as pairs with shadow `error`, never changing an answer). */
  readonly errors: number;
  /** Shadow `when` conditions that failed at run time (the rule then failed closed). */
  readonly conditionErrors: number;
  /** Checks not counted in `pairs` because the table was full (bounded cardinality). */
  readonly overflow: number;
  readonly pairs: readonly DivergencePair[];
}

export interface RuleUsage {
  readonly name: string;
  readonly action: 'ALLOW' | 'DENY';
  /** Checks this rule decided (an ALLOW rule: allowed; a DENY rule: denied). */
  readonly hits: number;
}

export interface GrantUsage {
  readonly role: string;
  /** The permission pattern as written in `spec.roles`. */
  readonly permission: string;
  /** Allows where this grant gave the caller the rule's required permission. */
  readonly hits: number;
}

export interface ScopeUsage {
  readonly scope: string;
  /** Allows by rules requiring this scope. */
  readonly hits: number;
}

/** One sidecar's answer on `<prefix>.report.<service>`. */
export interface PolicyReport {
  readonly service: string;
  readonly instance: string;
  /** The sidecar's start: usage counts run from here. */
  readonly startedAt: string;
  readonly at: string;
  /** The enforced policy's name and revision; null before one is loaded. */
  readonly policy: { readonly name: string; readonly revision: string } | null;
  /** Checks the enforced policy decided since start. */
  readonly checks: number;
  /** The enforced policy's rules, in document order, with their hits since start. */
  readonly rules: readonly RuleUsage[];
  /** Every role → permission pattern of `spec.roles`. */
  readonly grants: readonly GrantUsage[];
  /** Every scope an ALLOW rule requires. */
  readonly scopes: readonly ScopeUsage[];
  readonly shadow: ShadowReport | null;
}

/** Distinct pairs a table keeps by default; Checks of further pairs count as `overflow`. */
export const MAX_PAIRS = 1000;
/** Samples kept per divergent pair. */
export const SAMPLES_PER_PAIR = 3;

/** What tells one pair from another: both sides' outcome, reason and rule. */
type PairFields = Omit<DivergencePair, 'count' | 'samples'>;

interface MutablePair extends PairFields {
  count: number;
  readonly samples: DivergenceSample[];
}

/** True when the two sides decided differently: allow against deny, or the shadow failed. */
export function diverges(pair: Pick<DivergencePair, 'enforced' | 'shadow'>): boolean {
  return pair.enforced !== pair.shadow;
}

function pairKey(p: PairFields): string {
  // Rule names never hold NUL (policy schema), so NUL-joining is unambiguous.
  return `${p.enforced}\0${p.enforcedReason}\0${p.enforcedRule ?? ''}\0${p.shadow}\0${p.shadowReason}\0${p.shadowRule ?? ''}`;
}

/**
 * Counts (enforced, shadow) decision pairs, with a few samples of each divergent pair. The
 * number of distinct pairs is bounded (`maxPairs`): rules are finite, but a table must not
 * grow with a policy of 10,000 rules meeting varied traffic.
 */
export class DivergenceTable {
  private readonly pairs = new Map<string, MutablePair>();
  private counts = { evaluated: 0, divergent: 0, errors: 0, overflow: 0 };
  /**
   * The pair of two decision objects, for the decisions a compiled policy makes once and
   * returns on every Check (a rule's own, the default): the usual Check then costs two map
   * lookups and no allocation. Near misses are made per Check and go through the key.
   */
  private readonly byDecisions = new Map<Decision, Map<Decision | typeof THREW, MutablePair>>();

  constructor(
    private readonly maxPairs = MAX_PAIRS,
    private readonly samplesPerPair = SAMPLES_PER_PAIR,
  ) {}

  /**
   * One Check: the enforced decision and the shadow's (null when evaluating it threw).
   * `sample` is called only when a sample is kept.
   */
  record(enforced: Decision, shadow: Decision | null, sample: () => DivergenceSample): void {
    const other = shadow ?? THREW;
    const known = this.byDecisions.get(enforced)?.get(other);
    if (known !== undefined) {
      this.tally(known, 1);
      known.count++;
      if (known.samples.length < this.samplesPerPair && diverges(known)) known.samples.push(sample());
      return;
    }
    const fields = {
      enforced: outcome(enforced),
      enforcedReason: enforced.reason,
      enforcedRule: enforced.rule,
      shadow: shadow === null ? ('error' as const) : outcome(shadow),
      shadowReason: shadow === null ? ('internal_error' as const) : shadow.reason,
      shadowRule: shadow === null ? null : shadow.rule,
    };
    const pair = this.addPair(fields, 1, () => [sample()]);
    if (pair !== undefined && reused(enforced) && (shadow === null || reused(shadow)) && this.byDecisions.size < this.maxPairs) {
      let row = this.byDecisions.get(enforced);
      if (row === undefined) this.byDecisions.set(enforced, (row = new Map<Decision | typeof THREW, MutablePair>()));
      row.set(other, pair);
    }
  }

  /** Adds a pair with a count and its samples (summing tables, replaying recorded Checks). */
  add(fields: PairFields, count: number, samples: () => readonly DivergenceSample[] = () => []): void {
    this.addPair(fields, count, samples);
  }

  /** The pair the Checks were counted in, or undefined past the bound. */
  private addPair(fields: PairFields, count: number, samples: () => readonly DivergenceSample[]): MutablePair | undefined {
    const key = pairKey(fields);
    let pair = this.pairs.get(key);
    if (pair === undefined) {
      if (this.pairs.size >= this.maxPairs) {
        this.tally(fields, count);
        this.counts.overflow += count;
        return undefined;
      }
      pair = { ...fields, count: 0, samples: [] };
      this.pairs.set(key, pair);
    }
    this.count(pair, count, samples);
    return pair;
  }

  private count(pair: MutablePair, count: number, samples: () => readonly DivergenceSample[]): void {
    this.tally(pair, count);
    pair.count += count;
    if (diverges(pair) && pair.samples.length < this.samplesPerPair) {
      for (const s of samples()) if (pair.samples.length < this.samplesPerPair) pair.samples.push(s);
    }
  }

  private tally(fields: Pick<DivergencePair, 'enforced' | 'shadow'>, count: number): void {
    this.counts.evaluated += count;
    if (diverges(fields)) this.counts.divergent += count;
    if (fields.shadow === 'error') this.counts.errors += count;
  }

  get evaluated(): number {
    return this.counts.evaluated;
  }

  get divergent(): number {
    return this.counts.divergent;
  }

  get errors(): number {
    return this.counts.errors;
  }

  get overflow(): number {
    return this.counts.overflow;
  }

  /** Divergent pairs first, then by count (descending), then by key: a stable order for equal tables. */
  list(): DivergencePair[] {
    return [...this.pairs.entries()]
      .sort(([ka, a], [kb, b]) => Number(diverges(b)) - Number(diverges(a)) || b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0))
      .map(([, p]) => ({ ...p, samples: [...p.samples] }));
  }
}

/** The shadow reports of several sidecars added up: their pairs in one table (samples pooled), and their counts. */
export interface ShadowTotals {
  readonly table: DivergenceTable;
  readonly evaluated: number;
  readonly divergent: number;
  readonly errors: number;
  readonly conditionErrors: number;
  readonly overflow: number;
}

export function sumShadowReports(reports: readonly ShadowReport[]): ShadowTotals {
  const table = new DivergenceTable(Infinity);
  const totals = { evaluated: 0, divergent: 0, errors: 0, conditionErrors: 0, overflow: 0 };
  for (const report of reports) {
    totals.evaluated += report.evaluated;
    totals.divergent += report.divergent;
    totals.errors += report.errors;
    totals.conditionErrors += report.conditionErrors;
    totals.overflow += report.overflow;
    for (const pair of report.pairs) table.add(pair, pair.count, () => pair.samples);
  }
  return { table, ...totals };
}

/** Rules and grants are told apart by these keys, in a sidecar across revisions and across sidecars. */
export const ruleKey = (action: string, name: string): string => `${action}\0${name}`;
export const grantKey = (role: string, permission: string): string => `${role}\0${permission}`;

export interface UsageTotals {
  readonly rules: readonly RuleUsage[];
  readonly grants: readonly GrantUsage[];
  readonly scopes: readonly ScopeUsage[];
}

/**
 * Usage summed over sidecars, by name. Items are those of the reports' policies; when the
 * sidecars run different revisions, an item any of them lists is kept (its hits summed where
 * listed), in first-seen order.
 */
export function sumUsage(reports: readonly PolicyReport[]): UsageTotals {
  const rules = new Map<string, { name: string; action: 'ALLOW' | 'DENY'; hits: number }>();
  const grants = new Map<string, { role: string; permission: string; hits: number }>();
  const scopes = new Map<string, { scope: string; hits: number }>();
  for (const report of reports) {
    for (const r of report.rules) {
      const key = ruleKey(r.action, r.name);
      const entry = rules.get(key) ?? { name: r.name, action: r.action, hits: 0 };
      entry.hits += r.hits;
      rules.set(key, entry);
    }
    for (const g of report.grants) {
      const key = grantKey(g.role, g.permission);
      const entry = grants.get(key) ?? { role: g.role, permission: g.permission, hits: 0 };
      entry.hits += g.hits;
      grants.set(key, entry);
    }
    for (const s of report.scopes) {
      const entry = scopes.get(s.scope) ?? { scope: s.scope, hits: 0 };
      entry.hits += s.hits;
      scopes.set(s.scope, entry);
    }
  }
  return { rules: [...rules.values()], grants: [...grants.values()], scopes: [...scopes.values()] };
}

/** Stands for "the shadow threw" in the pair cache. */
const THREW = Symbol('threw');

/** Decisions a policy returns as the same object every time (its rules' own and its default), not made per Check. */
function reused(decision: Decision): boolean {
  return decision.reason !== 'missing_scope' && decision.reason !== 'missing_permission';
}

function outcome(decision: Decision): Outcome {
  return decision.allow ? 'allow' : 'deny';
}
