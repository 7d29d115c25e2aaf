/** Order statistics over measured samples. */

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when empty. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  return sortedPercentile(sorted, p);
}

/** Same, for samples already sorted ascending (large arrays: sort once, read many). */
export function sortedPercentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * The order in which round `round` (1-based) visits the servers it compares: as listed in odd
 * rounds, reversed in even ones, so that no server always runs first, or always right after
 * the same neighbour, and a drift within a round (the host's load rising or falling over a
 * minute) weighs on every server alike over a pair of rounds.
 */
export function inRoundOrder<T>(items: readonly T[], round: number): readonly T[] {
  return round % 2 === 1 ? items : [...items].reverse();
}

export function median(samples: ArrayLike<number>): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function mean(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i];
  return samples.length === 0 ? NaN : sum / samples.length;
}

export interface Spread {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly count: number;
}

export function spread(samples: ArrayLike<number>): Spread {
  const sorted = Float64Array.from(samples).sort();
  return { p50: sortedPercentile(sorted, 50), p99: sortedPercentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : NaN, count: sorted.length };
}
