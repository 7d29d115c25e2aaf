import type { Registry } from 'prom-client';

/**
 * The two metrics every Check touches, kept as plain numbers and rendered only when
 * /metrics is scraped. prom-client's Counter and Histogram hash their labels on every
 * call; on a path budgeted in microseconds that showed up in profiles. Both implement the
 * `get()` shape prom-client's Registry renders, so /metrics output is unchanged.
 */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  readonly values: MetricValue[];
}

/** A counter labelled by (decision, reason); both label sets are small and stable codes. */
export class DecisionCounter {
  readonly aggregator = 'sum' as const;
  readonly type = 'counter' as const;
  // One map per decision, keyed by the reason itself: reason codes are constant strings whose
  // hash V8 keeps, where a concatenated key would be hashed anew on every call.
  private readonly allows = new Map<string, { labels: { decision: string; reason: string }; value: number }>();
  private readonly denies = new Map<string, { labels: { decision: string; reason: string }; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  inc(decision: 'allow' | 'deny', reason: string): void {
    const series = decision === 'allow' ? this.allows : this.denies;
    const entry = series.get(reason);
    if (entry !== undefined) entry.value++;
    else series.set(reason, { labels: { decision, reason }, value: 1 });
  }

  /** Checks counted so far, every decision and reason. */
  total(): number {
    let sum = 0;
    for (const series of [this.allows, this.denies]) for (const entry of series.values()) sum += entry.value;
    return sum;
  }

  get(): MetricSnapshot {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.allows.values(), ...this.denies.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }

  reset(): void {
    this.allows.clear();
    this.denies.clear();
  }
}

/** An unlabelled histogram with fixed buckets (seconds). */
export class FastHistogram {
  readonly aggregator = 'sum' as const;
  readonly type = 'histogram' as const;
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    this.counts = new Float64Array(buckets.length);
    registry.registerMetric(this as never);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) {
      if (seconds <= buckets[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  get(): MetricSnapshot {
    const values: MetricValue[] = [];
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += this.counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: cumulative });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
