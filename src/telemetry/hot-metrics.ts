import { Counter, type Registry } from 'prom-client';

/**
 * The two metrics every Check touches, kept as plain numbers on the hot path and turned into
 * series only when /metrics is scraped. prom-client's labelled `inc()` hashes its labels
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

/**
 * An unlabelled histogram with fixed buckets (seconds), written out in the Prometheus text
 * format next to the registry's metrics (see `Metrics.exposition`). It is not registered:
 * prom-client has no documented way to export buckets counted elsewhere (`observe()` adds one
 * observation per call and turns each bound into a string key, about 0.6–1 µs a call), and a
 * histogram's text form is three series, so it renders its own. telemetry-hot-metrics.test.ts
 * holds its text to that of a prom-client Histogram fed the same observations.
 */
export class FastHistogram {
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.counts = new Float64Array(buckets.length);
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

  /** HELP, TYPE, the cumulative buckets, sum and count, one line each, newline-terminated. */
  exposition(): string {
    const { name } = this;
    const lines = [`# HELP ${name} ${escapeHelp(this.help)}`, `# TYPE ${name} histogram`];
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += this.counts[i];
      lines.push(`${name}_bucket{le="${le}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return lines.join('\n') + '\n';
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** HELP text as the text format wants it: backslash and newline escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
