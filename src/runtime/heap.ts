import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past the live heap before the next full
 * (mark-compact) collection, as a percentage: 100 = 2 × the live size.
 *
 * V8 picks this factor from the heap cap. Under 2 GiB it scales it down, to ~1.3 at the
 * 288 MiB cap the sidecar ships with, so under load the heap was marked and compacted
 * every ~120 ms (48 full collections in 7 s of cached-token Checks), each one a pause every
 * Check in flight waits out. Measured on cached-token throughput: ~1.3 × (V8's choice)
 * 14.2–14.9k rps, 2 × 15.6–16.3k, 4 × (V8's factor for large heaps) 15.5–19.2k. 4 × left
 * RSS at 151–251 MiB 20 s after caching 100,000 tokens (the garbage waits for V8's idle
 * collection), 2 × at 141 MiB, so 2 ×. The cap still bounds the heap, and V8 collects
 * harder as it nears it.
 */
export const HEAP_GROWING_PERCENT = 100;

/**
 * Applies HEAP_GROWING_PERCENT unless node was started with its own --heap-growing-percent.
 * NODE_OPTIONS cannot carry this V8 flag, so it is set at run time; V8 reads it whenever it
 * computes the next collection's limit.
 */
export function tuneHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent') || arg.startsWith('--heap_growing_percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
