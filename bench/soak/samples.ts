/**
 * What the soak reads from the sidecar every few seconds, and the figures made from it.
 * RSS comes from /proc, the JS heap and event-loop delay from the sidecar's /metrics
 * (prom-client's default metrics). prom-client resets its event-loop histogram at every
 * scrape, and the soak is the only scraper, so each sample's delay figures cover exactly the
 * window since the previous sample. The histogram samples with a 10 ms timer and records the
 * whole interval, so an idle loop reads about 10 ms: delay proper is the excess over that.
 *
 * To tell a slow sidecar from a starved one on a shared machine, each sample also reads the
 * sidecar's CPU time (/proc/PID/stat, all threads), the time its main thread (the event
 * loop) spent runnable but waiting for a CPU (/proc/PID/schedstat), and its GC time from
 * prom-client's GC histogram (which observes the first GC of each batch only: a lower bound).
 * The load generator shares the machine too: its own event-loop delay and run-queue wait
 * are read the same way, since a stalled generator sees answers late.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { metricValue, readMetrics, rssBytes, type Sample as Metric } from '../processes.js';
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
  /** Cumulative since the sidecar started, seconds: CPU used, main thread's run-queue wait, GC. */
  readonly cpuSeconds: number;
  readonly waitSeconds: number;
  readonly gcSeconds: number;
  /** Cumulative count of GC pauses over 100 ms. */
  readonly gcOver100ms: number;
  /** The load generator (this process): its longest event-loop delay over the window, ms, and its cumulative run-queue wait, s. */
  readonly generator: { readonly loopMaxMs: number; readonly waitSeconds: number };
}

/** This process's event loop, watched the way prom-client watches the sidecar's. */
export class OwnLoop {
  private readonly histogram = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });

  constructor() {
    this.histogram.enable();
  }

  /** Since the previous read. */
  read(): Sample['generator'] {
    const loopMaxMs = this.histogram.max / 1e6;
    this.histogram.reset();
    return { loopMaxMs, waitSeconds: runQueueWaitSeconds(process.pid) };
  }

  stop(): void {
    this.histogram.disable();
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ

function cpuSeconds(pid: number): number {
  // The command name is parenthesised and may hold spaces: count fields after it.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function runQueueWaitSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
}

function gc(m: readonly Metric[]): { seconds: number; over100ms: number } {
  const count = (le: string) => metricValue(m, 'authz_nodejs_gc_duration_seconds_bucket', { le });
  return { seconds: metricValue(m, 'authz_nodejs_gc_duration_seconds_sum'), over100ms: count('+Inf') - count('0.1') };
}

/** Window figures between two samples. */
export function between(
  a: Sample,
  b: Sample,
): {
  readonly cpuPercent: number;
  readonly waitPercent: number;
  readonly gcSeconds: number;
  readonly gcOver100ms: number;
  readonly generatorWaitPercent: number;
} {
  const span = b.t - a.t;
  return {
    generatorWaitPercent: span > 0 ? (100 * (b.generator.waitSeconds - a.generator.waitSeconds)) / span : NaN,
    cpuPercent: span > 0 ? (100 * (b.cpuSeconds - a.cpuSeconds)) / span : NaN,
    waitPercent: span > 0 ? (100 * (b.waitSeconds - a.waitSeconds)) / span : NaN,
    gcSeconds: b.gcSeconds - a.gcSeconds,
    gcOver100ms: b.gcOver100ms - a.gcOver100ms,
  };
}

export async function takeSample(pid: number, adminUrl: string, t: number, load: LoadCounts, own: OwnLoop): Promise<Sample> {
  const rss = rssBytes(pid);
  const cpu = cpuSeconds(pid);
  const wait = runQueueWaitSeconds(pid);
  const m = await readMetrics(adminUrl);
  const collections = gc(m);
  const seconds = (name: string) => metricValue(m, `authz_nodejs_eventloop_lag_${name}_seconds`) * 1000;
  return {
    t,
    rssBytes: rss,
    heapUsedBytes: metricValue(m, 'authz_nodejs_heap_size_used_bytes'),
    eld: { p50: seconds('p50'), p99: seconds('p99'), max: seconds('max') },
    allowed: metricValue(m, 'authz_checks_total', { decision: 'allow' }),
    denied: metricValue(m, 'authz_checks_total', { decision: 'deny' }),
    load,
    cpuSeconds: cpu,
    waitSeconds: wait,
    gcSeconds: collections.seconds,
    gcOver100ms: collections.over100ms,
    generator: own.read(),
  };
}

export interface MemoryFigures {
  /** Median RSS over the first `spanSeconds` after the warm-up, and over the last `spanSeconds`. */
  readonly fromBytes: number;
  readonly toBytes: number;
  readonly spanSeconds: number;
  /** Where those spans are, seconds into the run. */
  readonly fromAt: readonly [number, number];
  readonly toAt: readonly [number, number];
  readonly growthPercent: number;
  readonly heapGrowthPercent: number;
  /** The first sample after warm-up and the last one, unsmoothed. */
  readonly pointGrowthPercent: number;
  readonly peakRssBytes: number;
  /** Least-squares slope of RSS over the samples after warm-up, MiB per minute. */
  readonly slopeMiBPerMinute: number;
}

/**
 * RSS growth after warm-up. The heap saw-tooths between collections (tens of MiB at these
 * rates), so one sample against another says more about GC phase than about growth: each end
 * is the median of the samples over a span of 10 % of the run (at least 3 samples).
 */
export function memoryFigures(samples: readonly Sample[], warmupSeconds: number, runSeconds: number, sampleSeconds: number): MemoryFigures {
  const after = samples.filter((s) => s.t >= warmupSeconds - sampleSeconds / 2);
  if (after.length < 2) throw new Error(`only ${after.length} sample(s) after the ${warmupSeconds} s warm-up`);
  const spanSeconds = Math.max(0.1 * runSeconds, 2 * sampleSeconds);
  const head = after.filter((s) => s.t <= after[0].t + spanSeconds);
  const end = after[after.length - 1].t;
  const tail = after.filter((s) => s.t >= end - spanSeconds);
  const rss = (list: readonly Sample[]) => median(list.map((s) => s.rssBytes));
  const heap = (list: readonly Sample[]) => median(list.map((s) => s.heapUsedBytes));
  const [from, to] = [rss(head), rss(tail)];
  const first = after[0];
  const last = after[after.length - 1];
  return {
    fromBytes: from,
    toBytes: to,
    spanSeconds,
    fromAt: [head[0].t, head[head.length - 1].t],
    toAt: [tail[0].t, tail[tail.length - 1].t],
    growthPercent: (100 * (to - from)) / from,
    heapGrowthPercent: (100 * (heap(tail) - heap(head))) / heap(head),
    pointGrowthPercent: (100 * (last.rssBytes - first.rssBytes)) / first.rssBytes,
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
  const windows = samples.filter((s) => s.t >= warmupSeconds - 1e-3 && s.load.completed > 0);
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
