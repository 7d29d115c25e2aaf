import type { RequestView } from '../request/index.js';
import type { AuthContext } from '../tokens/index.js';
import { DivergenceTable, type DivergenceSample, type ShadowReport } from './report.js';
import type { CompiledPolicy, Decision } from './types.js';

/** A Check the shadow decided the other way (allow against deny), or failed on. */
export interface ShadowVerdict {
  /** The shadow's decision; null when evaluating the shadow threw. */
  readonly decision: Decision | null;
}

/**
 * The shadow policy of this service, if any: evaluated after the enforced decision of every
 * Check, never changing its answer. A shadow that throws is a pair with shadow `error`; a
 * `when` that fails at run time fails closed inside the shadow as it would if enforced, and is
 * counted (pass `onConditionError` to the shadow's compilation). Each new shadow revision
 * starts a fresh table.
 */
export class ShadowPolicy {
  private policy: CompiledPolicy | null = null;
  private table = new DivergenceTable();
  private since = '';
  private conditionErrors = 0;

  constructor(private readonly now: () => number = Date.now) {}

  current(): CompiledPolicy | null {
    return this.policy;
  }

  /** A new shadow (null: none). Compiled completely before: a Check sees the old or the new one. */
  swap(policy: CompiledPolicy | null): void {
    this.policy = policy;
    this.table = new DivergenceTable();
    this.since = new Date(this.now()).toISOString();
    this.conditionErrors = 0;
  }

  /** The compile option for the shadow's conditions. */
  readonly onConditionError = (): void => {
    this.conditionErrors++;
  };

  /** Counts the Check; the divergence when the shadow decided it the other way, else null (and null without a shadow). Never throws. */
  observe(view: RequestView, auth: AuthContext, enforced: Decision): ShadowVerdict | null {
    const shadow = this.policy;
    if (shadow === null) return null;
    let decision: Decision | null;
    try {
      decision = shadow.evaluate(view, auth);
    } catch {
      decision = null;
    }
    const divergent = decision === null || decision.allow !== enforced.allow;
    // Samples are only kept of divergent Checks: an agreeing one allocates no closure.
    this.table.record(enforced, decision, divergent ? () => sampleOf(view, auth, this.now) : NO_SAMPLE);
    return divergent ? { decision } : null;
  }

  /** Shadow conditions that failed at run time since this shadow revision. */
  get conditionErrorCount(): number {
    return this.conditionErrors;
  }

  /** Checks per (enforced, shadow) outcome since this shadow revision, for /metrics. */
  outcomes(): Array<{ enforced: string; shadow: string; count: number }> {
    const sums = new Map<string, { enforced: string; shadow: string; count: number }>();
    for (const pair of this.table.list()) {
      const key = `${pair.enforced}/${pair.shadow}`;
      const entry = sums.get(key) ?? { enforced: pair.enforced, shadow: pair.shadow, count: 0 };
      entry.count += pair.count;
      sums.set(key, entry);
    }
    return [...sums.values()];
  }

  report(): ShadowReport | null {
    const policy = this.policy;
    if (policy === null) return null;
    const t = this.table;
    return {
      name: policy.name,
      revision: policy.revision,
      since: this.since,
      evaluated: t.evaluated,
      divergent: t.divergent,
      errors: t.errors,
      conditionErrors: this.conditionErrors,
      overflow: t.overflow,
      pairs: t.list(),
    };
  }
}

const NO_SAMPLE = (): never => {
  throw new Error('no sample is kept of an agreeing Check');
};

function sampleOf(view: RequestView, auth: AuthContext, now: () => number): DivergenceSample {
  return {
    requestId: view.id,
    method: view.method,
    path: view.path,
    subject: auth.user?.subject || auth.principal || null,
    at: new Date(now()).toISOString(),
  };
}
