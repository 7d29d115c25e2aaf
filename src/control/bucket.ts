/**
 * The control-plane KV bucket as the publishing side sees it: open (or create) it, read the
 * latest value of a key, and write a new one only if nobody else wrote in between (compare
 * and set on the KV revision), so two publishers racing cannot both win silently.
 */
import { StorageType, type KV, type KvEntry, type NatsConnection } from 'nats';

export type BucketErrorCode = 'bucket_not_found' | 'jetstream_unavailable' | 'bucket_conflict';

export class BucketError extends Error {
  override readonly name = 'BucketError';
  constructor(
    readonly code: BucketErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Settings of a bucket authzctl creates; an existing bucket is used as it is. */
export const BUCKET_DEFAULTS = { history: 20, storage: StorageType.File, replicas: 1 } as const;

/** JetStream's "wrong last sequence": the key changed since the revision we expected. */
const WRONG_LAST_SEQUENCE = 10071;

export interface OpenBucketOptions {
  /** Create the bucket when it does not exist (publishing); otherwise a BucketError. */
  readonly create: boolean;
  /** JetStream API timeout in ms (default 5000). */
  readonly timeoutMs?: number;
}

export async function openBucket(nc: NatsConnection, name: string, options: OpenBucketOptions): Promise<KV> {
  const timeout = options.timeoutMs ?? 5000;
  let exists: boolean;
  try {
    const jsm = await nc.jetstreamManager({ timeout });
    exists = await jsm.streams.info(`KV_${name}`).then(
      () => true,
      (error: unknown) => {
        if (error instanceof Error && error.message === 'stream not found') return false;
        throw error;
      },
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/503|no responders|jetstream not enabled/i.test(message))
      throw new BucketError('jetstream_unavailable', `JetStream is not enabled on the NATS server (${message})`, { cause: error });
    throw error;
  }
  if (!exists && !options.create)
    throw new BucketError('bucket_not_found', `bucket "${name}" does not exist (nothing has been published to it yet)`);
  return nc.jetstream({ timeout }).views.kv(name, { ...BUCKET_DEFAULTS, timeout });
}

export interface Latest {
  /**
   * The newest stored document (a compact JWS). When the key's newest entry is a delete
   * marker this is the last value before it still in the history, or null if none is left.
   */
  readonly jws: string | null;
  /** KV revision of the key's newest entry (value or delete marker): what a CAS write expects. */
  readonly kvRevision: number;
}

/** The latest value of `key`, or null when the key was never written. */
export async function latest(kv: KV, key: string): Promise<Latest | null> {
  const entry = await kv.get(key);
  if (entry === null) return null;
  if (entry.operation === 'PUT') return { jws: entry.string(), kvRevision: entry.revision };
  // Deleted: the signed revision must still go on from the last document, or every sidecar
  // would refuse the next one as a rollback.
  const lastPut = (await history(kv, key)).filter((e) => e.operation === 'PUT').at(-1);
  return { jws: lastPut?.string() ?? null, kvRevision: entry.revision };
}

/**
 * Writes `value` only if the key's newest KV revision is still `expectedKvRevision` (null: the
 * key must not exist, or be deleted). Resolves to the new KV revision, or null on a conflict.
 */
export async function putIfUnchanged(kv: KV, key: string, value: string, expectedKvRevision: number | null): Promise<number | null> {
  try {
    return expectedKvRevision === null ? await kv.create(key, value) : await kv.update(key, value, expectedKvRevision);
  } catch (error) {
    if ((error as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE) return null;
    throw error;
  }
}

export interface Written {
  readonly value: string;
  readonly kvRevision: number;
}

/**
 * Read, build, compare-and-set; on a conflict (someone published in between) read again and
 * rebuild from the newer value, up to `retries` more times. `build` sees the latest entry so
 * the document it signs always follows the one it replaces.
 */
export async function updateKey(kv: KV, key: string, build: (current: Latest | null) => Promise<string>, retries = 3): Promise<Written> {
  for (let attempt = 0; attempt <= retries; attempt++) {
    const current = await latest(kv, key);
    const value = await build(current);
    const kvRevision = await putIfUnchanged(kv, key, value, current?.kvRevision ?? null);
    if (kvRevision !== null) return { value, kvRevision };
  }
  throw new BucketError('bucket_conflict', `${key} kept changing while publishing (${retries + 1} attempts); try again`);
}

/** Every entry the bucket still holds for `key` (at most its history setting), oldest first. */
export async function history(kv: KV, key: string): Promise<KvEntry[]> {
  const entries: KvEntry[] = [];
  const iterator = await kv.history({ key });
  for await (const entry of iterator) {
    // nats.js 2.x queues its end-of-history callback again, already cleared, when a second
    // message with nothing pending arrives (a concurrent write): that slot reads `undefined`.
    // Seen as authzctl's "Cannot read properties of undefined (reading 'operation')" when two
    // publishers raced.
    if (entry !== undefined && entry !== null) entries.push(entry);
  }
  return entries;
}
