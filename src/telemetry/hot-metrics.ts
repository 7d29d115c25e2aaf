import { Counter, type Registry } from 'prom-client';

/**
 * The two metrics every Check touches, kept as plain numbers on the hot path and turned into
 * series only when /metrics is scraped. prom-client's labelled `inc()` hashes its labels
 * on every call and `Histogram.observe()` allocates and formats its bucket keys; on a path
 * budgeted in microseconds both showed up in profiles.
 */

/** One (service, decision, reason) series: its labels, made once, and its count. */
interface Series {
  readonly labels: { readonly service: string; readonly decision: 'allow' | 'deny'; readonly reason: string };
  value: number;
}

/** One service's series, a map per decision. */
interface ServiceSeries {
  // Keyed by the reason itself: reason codes are constant strings whose hash V8 keeps, where a
  // concatenated key would be hashed anew on every call.
  readonly allows: Map<string, Series>;
  readonly denies: Map<string, Series>;
}

/** A counter labelled by (service, decision, reason): service names come from the config, decisions and reasons are codes. */
export class DecisionCounter {
  private readonly services = new Map<string, ServiceSeries>();
  /** The registered prom-client counter; its `collect` copies the series at scrape time. */
  private readonly counter: Counter<'service' | 'decision' | 'reason'>;

  constructor(name: string, help: string, registry: Registry) {
    const series = () => this.series();
    this.counter = new Counter({
      name,
      help,
      labelNames: ['service', 'decision', 'reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, value } of series()) this.inc({ ...labels }, value);
      },
    });
  }

  inc(service: string, decision: 'allow' | 'deny', reason: string): void {
    let perService = this.services.get(service);
    if (perService === undefined) this.services.set(service, (perService = { allows: new Map(), denies: new Map() }));
    const series = decision === 'allow' ? perService.allows : perService.denies;
    const entry = series.get(reason);
    if (entry !== undefined) entry.value++;
    else series.set(reason, { labels: { service, decision, reason }, value: 1 });
  }

  /** Checks counted so far, every service, decision and reason. */
  total(): number {
    let sum = 0;
    for (const entry of this.series()) sum += entry.value;
    return sum;
  }

  /** The series as the registry renders them (prom-client's `get()`, which runs `collect`). */
  get(): ReturnType<Counter['get']> {
    return this.counter.get();
  }

  reset(): void {
    this.services.clear();
    this.counter.reset();
  }

  private *series(): Generator<Series> {
    for (const { allows, denies } of this.services.values()) {
      yield* allows.values();
      yield* denies.values();
    }
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
