import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { afterMajorCollection } from './major-gc.js';

/**
 * How large V8 may let the heap grow before a full (mark-compact) collection, in bytes, as
 * long as that is at least 1.5 × the live heap.
 *
 * V8 sets the next full collection at the live heap times a growing factor, and picks the
 * factor from the heap cap: under a 2 GiB cap it scales it down, to ~1.3 at the 288 MiB the
 * sidecar ships with. The sidecar's live heap is ~21 MiB (mostly the code of its modules),
 * so under load a full collection came every ~120 ms (48 in 7 s of cached-token Checks),
 * each one a pause every Check in flight waits out and marking work on a second core.
 *
 * A fixed factor trades one figure for another. Measured (cached-token rps; RSS 20 s after
 * caching 100,000 tokens, ~68 MiB live): V8's ~1.3 × 14.2–14.9k rps; 2 × 17.6k, 141 MiB;
 * 4 × (V8's own factor for large heaps) 19.0k, 151–251 MiB, the garbage waiting for V8's
 * idle-time collection. Headroom fixed in bytes instead: 32 MiB 18.4–18.6k rps, 143 MiB;
 * 48 MiB 19.8k, 151 MiB. A budget gives each case what it needs: a small live heap gets
 * ~4 ×, a large one (a full token cache) 1.5 ×. With 80 MiB: ~21k rps, 141–152 MiB (96 MiB:
 * ~21k, 153–157 MiB). The factor is recomputed after every full collection.
 */
export const HEAP_BUDGET_BYTES = 80 * 1024 * 1024;

/** The factor's bounds, as V8's percentage (factor = 1 + percent / 100): 1.5 × to 4 ×. */
export const MIN_GROWING_PERCENT = 50;
export const MAX_GROWING_PERCENT = 300;

/** The growing percentage that lets the heap reach HEAP_BUDGET_BYTES from `liveBytes`, within the bounds, in steps of 10. */
export function growingPercentFor(liveBytes: number): number {
  if (!(liveBytes > 0)) return MAX_GROWING_PERCENT;
  const percent = Math.round((HEAP_BUDGET_BYTES / liveBytes - 1) * 10) * 10;
  return Math.min(MAX_GROWING_PERCENT, Math.max(MIN_GROWING_PERCENT, percent));
}

export interface HeapTuning {
  /** The percentage in force (null: node was started with its own --heap-growing-percent). */
  readonly percent: () => number | null;
  stop(): void;
}

/**
 * Sets V8's --heap-growing-percent from the live heap after each full collection (see
 * HEAP_BUDGET_BYTES), unless node was started with one. NODE_OPTIONS cannot carry this V8
 * flag, hence v8.setFlagsFromString; V8 reads it each time it sets the next collection's
 * limit, so a change applies from the following full collection. Nothing else is changed:
 * the heap cap still bounds the heap, and V8 collects harder as it nears it.
 */
export function tuneHeapGrowth(execArgv: readonly string[] = process.execArgv): HeapTuning {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return { percent: () => null, stop: () => {} };
  let current = 0;
  const apply = (percent: number): void => {
    if (percent === current) return;
    setFlagsFromString(`--heap-growing-percent=${percent}`);
    current = percent;
  };
  apply(growingPercentFor(getHeapStatistics().used_heap_size));
  const stop = afterMajorCollection((live) => apply(growingPercentFor(live)));
  return { percent: () => current, stop };
}
