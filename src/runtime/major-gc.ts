import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * Calls `listener` with the heap in use right after each full (mark-compact) collection —
 * the live heap, as close as Node lets us read it. Returns the function that stops listening.
 */
export function afterMajorCollection(listener: (liveBytes: number) => void): () => void {
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((entry) => (entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (major) listener(getHeapStatistics().used_heap_size);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
