// The bucket as authzctl reads and writes it: a second entry of control/, beside index.ts,
// because it loads the `nats` client. It leaves out start.ts (the sidecar's run, itself an
// entry that main.ts imports lazily), which would make every bucket command load the policy
// compiler and the key stores too. See ENTRIES in .dependency-cruiser.cjs.
export {
  BUCKET_DEFAULTS,
  BucketError,
  ControlBucket,
  latest,
  retrying,
  storedValues,
  updateKey,
  type BucketCreation,
  type BucketErrorCode,
  type BucketInfo,
  type Latest,
  type OpenBucketOptions,
  type Written,
} from './bucket.js';
export { bindKv, readHistory, readNewest, type KvRecord, type KvSource } from './kv-reads.js';
