export { tuneHeapGrowth, type HeapTuning } from './heap.js';
export { collectWhenIdle, type IdleCollection, type IdleCollectionOptions } from './idle-gc.js';
