import { getHeapSpaceStatistics } from 'node:v8';
import { afterMajorCollection } from './major-gc.js';

/**
 * How long Checks must have stopped before the idle collection runs: a whole interval of
 * this length with no Check answered (so 1–2 × this after the last one). Short, because the
 * garbage a burst leaves is collected either now, while nothing waits, or later by V8 in the
 * middle of the next burst: measured, a first full collection of 95–122 ms at 2,000 Checks/s
 * after a throughput burst (docs/performance.md). A Check arriving during the idle one waits
 * for it (tens of milliseconds); it runs once per burst, and only with MIN_SLACK_BYTES to free.
 */
export const IDLE_MS = 1_000;

/**
 * Old-generation heap committed beyond the live heap (as the last full collection left it)
 * below which an idle collection is not worth it. The new space is left out: it is fixed
 * (the image's --min/max-semi-space-size) and a full collection does not shrink it.
 */
export const MIN_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * How long Checks must have stayed stopped, after an idle collection, for the second one. V8
 * gives back the idle half of the new space (16 of its 32 MiB) only in a full collection that
 * finds the allocation rate low, and it measures that rate over its last ~5 s: the first idle
 * collection, a second after a burst, still sees the burst's rate. Measured 20 s after caching
 * 100,000 tokens: 143–157 MiB RSS with the first collection only, 109–134 MiB with both.
 *
 * A minute, not a few seconds: the next burst faults the given-back pages in again, measured
 * ~8,000 minor faults in its first ~0.75 s and p99 27–32 ms at 2,000 Checks/s in that window
 * (5.7–9.2 ms without this step). A lull in traffic should not pay that; a pod idle for a
 * minute gives the memory back.
 */
export const SETTLE_MS = 60_000;

export interface IdleCollection {
  /** Full collections run because the sidecar went quiet. */
  readonly runs: () => number;
  stop(): void;
}

export interface IdleCollectionOptions {
  /** A number that changes whenever a Check is answered (the Checks counter). */
  readonly activity: () => number;
  readonly idleMs?: number;
  readonly minSlackBytes?: number;
  readonly settleMs?: number;
  /** The collection to run: memoryReducingCollection(gc) in the sidecar; a counter in tests. */
  readonly collect: () => void;
}

/**
 * Returns memory once a burst of Checks is over. V8 collects the old generation only when
 * it reaches the limit its heap growing factor sets (--heap-growing-percent, on node's
 * command line), and its memory reducer (which in a browser collects
 * when the page goes idle) waits for idle-time tasks that Node does not run. So after a
 * burst, the garbage it left — and the malloc'd backing stores of its dead Buffers, freed
 * only with them — stayed resident until the next burst: measured after 100,000 fresh-token
 * Checks, 105 MiB of committed heap for 49 MiB in use and 39 MiB of malloc arena.
 *
 * Most of that garbage is the header values node:http2 hands over as external strings: they
 * end in the old generation, and each holds the malloc'd header buffer it points into until
 * a full collection finalizes it, which is also what makes a late first collection long.
 *
 * Every `idleMs`, if no Check was answered during the whole interval while some were before
 * it, and V8 holds `minSlackBytes` more old-generation heap than was live after the last full
 * collection, one full collection runs; if Checks stay stopped for `settleMs` more, a second
 * one (see SETTLE_MS). Then nothing until Checks resume: at most two per burst.
 */
export function collectWhenIdle(options: IdleCollectionOptions): IdleCollection {
  const idleMs = options.idleMs ?? IDLE_MS;
  const minSlack = options.minSlackBytes ?? MIN_SLACK_BYTES;
  const settleMs = options.settleMs ?? SETTLE_MS;
  const collect = options.collect;
  let liveAfterMajor = oldGeneration().used;
  const stopListening = afterMajorCollection(() => (liveAfterMajor = oldGeneration().used));

  let seen = options.activity();
  let busy = false;
  /** When this quiet spell's first collection ran; undefined before it and after the second. */
  let collectedAt: number | undefined;
  let runs = 0;
  const run = (): void => {
    collect();
    runs++;
  };
  const timer = setInterval(() => {
    const now = options.activity();
    if (now !== seen) {
      seen = now;
      busy = true;
      collectedAt = undefined;
      return;
    }
    if (collectedAt !== undefined && performance.now() - collectedAt >= settleMs) {
      collectedAt = undefined;
      run();
      return;
    }
    if (!busy) return;
    busy = false;
    // Committed, not used: a full collection late in the burst leaves little garbage in use
    // but the heap it grew to stays committed (measured: 35 MiB used, 82 MiB committed).
    if (Math.max(0, oldGeneration().committed - liveAfterMajor) < minSlack) return;
    run();
    collectedAt = performance.now();
  }, idleMs);
  timer.unref();
  return {
    runs: () => runs,
    stop: () => {
      clearInterval(timer);
      stopListening();
    },
  };
}

/** Committed and used bytes of the spaces a scavenge never empties: all but the new space and its large objects. */
function oldGeneration(): { committed: number; used: number } {
  let committed = 0;
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') continue;
    committed += space.space_size;
    used += space.space_used_size;
  }
  return { committed, used };
}

/**
 * V8's `gc` function, present only when node was started with --expose-gc (the image's
 * ENTRYPOINT and `npm start` pass it). Never obtained any other way: Node does not support
 * changing V8's flags once it has started.
 */
export function exposedGc(scope: object = globalThis): (() => void) | undefined {
  const gc = (scope as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

/**
 * Two full collections with V8's `gc`. Called without arguments it is a full collection; the
 * option forms (`{ type: 'major', … }`) collected nothing on node 20. Twice: the first one
 * learns which pages are sparse, the second evacuates them and releases the pages. Measured
 * with 10 % of a 90 MiB heap surviving: one collection left 85 MiB committed, two left 43 MiB.
 */
export function memoryReducingCollection(gc: () => void): () => void {
  return () => {
    gc();
    gc();
  };
}
