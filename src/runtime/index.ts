export { collectWhenIdle, exposedGc, memoryReducingCollection, type IdleCollection, type IdleCollectionOptions } from './idle-gc.js';
export { describeRuntime, runtimeInEffect, type NodeStart, type RuntimeInEffect } from './in-effect.js';
