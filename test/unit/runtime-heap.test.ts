import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_BUDGET_BYTES, MAX_GROWING_PERCENT, MIN_GROWING_PERCENT, growingPercentFor, tuneHeapGrowth } from '../../src/runtime/heap.js';

const MiB = 1024 * 1024;

describe('heap growth', () => {
  it('lets a small live heap grow to the budget, at most 4 ×', () => {
    assert.equal(growingPercentFor(16 * MiB), MAX_GROWING_PERCENT);
    assert.equal(growingPercentFor(21 * MiB), 280);
    assert.equal(growingPercentFor(HEAP_BUDGET_BYTES / 2), 100);
    assert.equal(growingPercentFor(HEAP_BUDGET_BYTES / 1.8), 80);
  });

  it('gives a live heap near or past the budget 1.5 ×', () => {
    assert.equal(growingPercentFor(68 * MiB), MIN_GROWING_PERCENT);
    assert.equal(growingPercentFor(HEAP_BUDGET_BYTES * 2), MIN_GROWING_PERCENT);
  });

  it('answers the largest factor for a nonsensical reading, in steps of 10', () => {
    for (const live of [0, -1, Number.NaN]) assert.equal(growingPercentFor(live), MAX_GROWING_PERCENT);
    for (let live = 1 * MiB; live < 200 * MiB; live += 7 * MiB) assert.equal(growingPercentFor(live) % 10, 0);
  });

  it('leaves the heap alone when node was started with its own --heap-growing-percent', () => {
    const tuning = tuneHeapGrowth(['--heap-growing-percent=120']);
    assert.equal(tuning.percent(), null);
    tuning.stop();
  });
});
