/**
 * What the soak reads from the sidecar every few seconds, and the figures made from it.
 * RSS comes from /proc, the JS heap and event-loop delay from the sidecar's /metrics
 * (prom-client's default metrics). prom-client resets its event-loop histogram at every
 * scrape, and the soak is the only scraper, so each sample's delay figures cover exactly the
 * window since the previous sample. The histogram samples with a 10 ms timer and records the
 * whole interval, so an idle loop reads about 10 ms: delay proper is the excess over that.
 */
import { metricValue, readMetrics, rssBytes } from '../processes.js';
import type { LoadCounts } from '../load/paced.js';
import { median, percentile } from '../stats.js';

/** prom-client's eventLoopMonitoringPrecision default: the sampler's timer interval. */
export const ELD_RESOLUTION_MS = 10;

export interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop delay over the window, ms, as exported (includes the 10 ms sampling interval). */
  readonly eld: { readonly p50: number; readonly p99: number; readonly max: number };
  /** authz_checks_total by decision, cumulative. */
  readonly allowed: number;
  readonly denied: number;
  /** The load over the window. */
  readonly load: LoadCounts;
}

export async function takeSample(pid: number, adminUrl: string, t: number, load: LoadCounts): Promise<Sample> {
  const rss = rssBytes(pid);
  const m = await readMetrics(adminUrl);
  const seconds = (name: string) => metricValue(m, `authz_nodejs_eventloop_lag_${name}_seconds`) * 1000;
  return {
    t,
    rssBytes: rss,
    heapUsedBytes: metricValue(m, 'authz_nodejs_heap_size_used_bytes'),
    eld: { p50: seconds('p50'), p99: seconds('p99'), max: seconds('max') },
    allowed: metricValue(m, 'authz_checks_total', { decision: 'allow' }),
    denied: metricValue(m, 'authz_checks_total', { decision: 'deny' }),
    load,
  };
}

export interface MemoryFigures {
  /** The first sample at or after the warm-up's end, and the last one. */
  readonly from: Sample;
  readonly to: Sample;
  readonly growthPercent: number;
  readonly heapGrowthPercent: number;
  readonly peakRssBytes: number;
  /** Least-squares slope of RSS over the samples after warm-up, MiB per minute. */
  readonly slopeMiBPerMinute: number;
}

export function memoryFigures(samples: readonly Sample[], warmupSeconds: number): MemoryFigures {
  const after = samples.filter((s) => s.t >= warmupSeconds);
  if (after.length < 2) throw new Error(`only ${after.length} sample(s) after the ${warmupSeconds} s warm-up`);
  const from = after[0];
  const to = after[after.length - 1];
  return {
    from,
    to,
    growthPercent: (100 * (to.rssBytes - from.rssBytes)) / from.rssBytes,
    heapGrowthPercent: (100 * (to.heapUsedBytes - from.heapUsedBytes)) / from.heapUsedBytes,
    peakRssBytes: Math.max(...after.map((s) => s.rssBytes)),
    slopeMiBPerMinute: slope(after.map((s) => [s.t / 60, s.rssBytes / 1024 / 1024])),
  };
}

export interface DelayFigures {
  /** Windows counted (after warm-up, loaded). */
  readonly windows: number;
  /** Median over windows of each window's p50 / p99; the worst window's p99; the largest single delay. */
  readonly p50: number;
  readonly p99: number;
  readonly worstP99: number;
  readonly max: number;
}

/** Event-loop delay over the loaded windows after warm-up (the first sample's window covers start-up). */
export function delayFigures(samples: readonly Sample[], warmupSeconds: number): DelayFigures {
  const windows = samples.filter((s) => s.t >= warmupSeconds && s.load.completed > 0);
  return {
    windows: windows.length,
    p50: median(windows.map((s) => s.eld.p50)),
    p99: median(windows.map((s) => s.eld.p99)),
    worstP99: Math.max(...windows.map((s) => s.eld.p99)),
    max: Math.max(...windows.map((s) => s.eld.max)),
  };
}

/** p50 / p99 / max of a list of figures (NaN entries, e.g. never applied, left out). */
export function summary(values: readonly number[]): { readonly p50: number; readonly p99: number; readonly max: number; readonly count: number } {
  const finite = values.filter(Number.isFinite);
  return { p50: percentile(finite, 50), p99: percentile(finite, 99), max: finite.length ? Math.max(...finite) : NaN, count: finite.length };
}

function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
