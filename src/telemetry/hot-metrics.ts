import { Counter, type Registry } from 'prom-client';

/**
 * The two metrics every Check touches, kept as plain numbers on the hot path and handed to
 * the registry only when /metrics is scraped. prom-client's labelled `inc()` hashes its labels
 * on every call and `Histogram.observe()` allocates and formats its bucket keys; on a path
 * budgeted in microseconds both showed up in profiles.
 */

/** One (decision, reason) series: its labels, made once, and its count. */
interface Series {
  readonly labels: { readonly decision: 'allow' | 'deny'; readonly reason: string };
  value: number;
}

/** A counter labelled by (decision, reason); both label sets are small and stable codes. */
export class DecisionCounter {
  // One map per decision, keyed by the reason itself: reason codes are constant strings whose
  // hash V8 keeps, where a concatenated key would be hashed anew on every call.
  private readonly allows = new Map<string, Series>();
  private readonly denies = new Map<string, Series>();
  /** The registered prom-client counter; its `collect` copies the series at scrape time. */
  private readonly counter: Counter<'decision' | 'reason'>;

  constructor(name: string, help: string, registry: Registry) {
    const { allows, denies } = this;
    this.counter = new Counter({
      name,
      help,
      labelNames: ['decision', 'reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const series of [allows, denies]) for (const { labels, value } of series.values()) this.inc({ ...labels }, value);
      },
    });
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

  /** The series as the registry renders them (prom-client's `get()`, which runs `collect`). */
  get(): ReturnType<Counter['get']> {
    return this.counter.get();
  }

  reset(): void {
    this.allows.clear();
    this.denies.clear();
    this.counter.reset();
  }
}

interface HistogramSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  readonly values: Array<{ readonly metricName: string; readonly labels: Record<string, string | number>; readonly value: number }>;
}

/**
 * An unlabelled histogram with fixed buckets (seconds). prom-client has no documented way to
 * export buckets counted elsewhere (no custom collector, and `observe()` adds one observation
 * per call), so this one is registered as an object with prom-client's `get()` shape, the
 * one place it relies on the registry rendering such an object. telemetry-hot-metrics.test.ts
 * holds its output to that of a prom-client Histogram fed the same observations.
 */
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
      if (seconds <= buckets[i]) {
        this.counts[i]++;
        return;
      }
    }
  }

  get(): HistogramSnapshot {
    const values: Array<HistogramSnapshot['values'][number]> = [];
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += this.counts[i];
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
