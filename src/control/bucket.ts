/**
 * The control-plane KV bucket as the publishing side (authzctl) sees it: create it with an
 * explicit replica count, read a key's newest value and history, and write a new value only
 * if nobody else wrote in between (compare and set on the KV revision), so two publishers
 * racing cannot both win silently.
 *
 * Every operation is bounded: transient failures (a request timed out, no JetStream leader
 * while a lost node is replaced, the connection moving to another node) are retried with
 * backoff until the caller's deadline, then reported naming what failed. Reads are direct
 * gets (kv-reads.ts), which any live replica answers, never a consumer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type KV, type NatsConnection } from 'nats';
import { bindKv, readHistory, readNewest, type KvRecord, type KvSource } from './kv-reads.js';

export type BucketErrorCode = 'bucket_not_found' | 'bucket_replicas_required' | 'jetstream_unavailable' | 'bucket_unavailable' | 'bucket_conflict';

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

/**
 * Settings of a bucket authzctl creates. Rollup headers are off and deletes denied, so NATS
 * publish rights alone cannot wipe a key's history (a rollup purge), which is where a sidecar
 * starting with an empty cache looks for the highest signed revision.
 */
export const BUCKET_DEFAULTS = { history: 20, storage: StorageType.File, replicas: 1 } as const;

/** Per-request timeout of reads (direct gets): a live replica answers in a millisecond or so. */
const READ_TIMEOUT_MS = 1000;

/** JetStream's "wrong last sequence": the key changed since the revision we expected. */
const WRONG_LAST_SEQUENCE = 10071;

export interface BucketCreation {
  readonly replicas: number;
  readonly history?: number;
}

export interface OpenBucketOptions {
  /**
   * What to do when the bucket does not exist: false → BucketError `bucket_not_found`; true →
   * create it with one replica on a single server, and refuse (`bucket_replicas_required`) on
   * a cluster, where an unreplicated bucket would be a single point of failure; an explicit
   * replica count → create it with that.
   */
  readonly create: boolean | BucketCreation;
  /** JetStream API timeout per request, in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Epoch ms after which transient failures are no longer retried (default: 20 s from now). */
  readonly deadline?: number;
}

export interface BucketInfo {
  readonly name: string;
  readonly replicas: number;
  readonly history: number;
  readonly direct: boolean;
  readonly rollups: boolean;
  readonly leader: string | null;
  /** Other replicas: name, and whether they are current. */
  readonly peers: ReadonlyArray<{ name: string; current: boolean; offline: boolean }>;
  readonly values: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errorCode(error: unknown): string {
  const e = error as { code?: string | number; api_error?: { err_code?: number } } | null | undefined;
  return String(e?.api_error?.err_code ?? e?.code ?? '');
}

/** What a retry can cure: a timeout, no responder (no leader yet), a connection between nodes. */
function isTransient(error: unknown): boolean {
  const code = errorCode(error);
  return (
    code === 'TIMEOUT' ||
    code === '503' ||
    code === 'DISCONNECT' ||
    code === 'CONNECTION_CLOSED' ||
    /timeout|no responders|disconnect|reconnect|leader/i.test(describe(error))
  );
}

/** The error as an operator can act on it: nats.js reports "no responders" as a bare "503". */
function explain(error: unknown): string {
  const code = errorCode(error);
  if (code === '503') return 'no JetStream server answered (503: the cluster has no leader for it right now, or JetStream is unavailable)';
  if (code === 'TIMEOUT') return 'timed out (a NATS node down or frozen?)';
  return describe(error);
}

function isStreamNotFound(error: unknown): boolean {
  return errorCode(error) === '10059' || /stream not found/i.test(describe(error));
}

/**
 * Runs `fn` until it succeeds, a non-transient error, or `deadline`; backoff 100 ms doubling
 * to 1 s. The error then names `what` and how long it was tried.
 */
export async function retrying<T>(what: string, deadline: number, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof BucketError || !isTransient(error)) throw error;
      const wait = Math.min(1000, 100 * 2 ** (attempt - 1));
      if (Date.now() + wait >= deadline) {
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        throw new BucketError('bucket_unavailable', `${what}: ${explain(error)} (${attempt} attempt${attempt === 1 ? '' : 's'} over ${seconds} s)`, {
          cause: error,
        });
      }
      await sleep(wait);
    }
  }
}

export class ControlBucket {
  private constructor(
    readonly name: string,
    private readonly kv: KV,
    private readonly source: KvSource,
    private readonly deadline: number,
  ) {}

  /** Opens (or creates, see OpenBucketOptions.create) the bucket; retried until the deadline. */
  static async open(nc: NatsConnection, name: string, options: OpenBucketOptions): Promise<ControlBucket> {
    const timeout = options.timeoutMs ?? 5000;
    const deadline = options.deadline ?? Date.now() + 20_000;
    if (nc.info !== undefined && nc.info.jetstream !== true)
      throw new BucketError('jetstream_unavailable', `JetStream is not enabled on the NATS server ${nc.getServer()} (start it with -js)`);
    const jsm = await nc.jetstreamManager({ timeout, checkAPI: false });
    let info = await retrying(`reading bucket "${name}"`, deadline, () =>
      jsm.streams.info(`KV_${name}`).catch((error: unknown) => {
        if (isStreamNotFound(error)) return null;
        throw error;
      }),
    );
    if (info === null) {
      const create = creationFor(name, options.create, nc);
      await retrying(`creating bucket "${name}" with ${create.replicas} replica${create.replicas === 1 ? '' : 's'}`, deadline, () =>
        createBucket(jsm, name, create),
      );
      info = await retrying(`reading bucket "${name}"`, deadline, () => jsm.streams.info(`KV_${name}`));
    }
    const direct = info.config.allow_direct === true;
    const kv = await bindKv(nc, name, direct, timeout);
    // A direct get is answered by one replica in a queue group: one that is frozen may be
    // picked and never answer. A short timeout lets the retry reach another soon.
    const reads = await nc.jetstreamManager({ timeout: Math.min(timeout, READ_TIMEOUT_MS), checkAPI: false });
    return new ControlBucket(name, kv, { jsm: reads, bucket: name, direct }, deadline);
  }

  /** The key's newest entry (a value or a delete marker), or null when it was never written. */
  newest(key: string): Promise<KvRecord | null> {
    return retrying(`reading ${key} from bucket "${this.name}"`, this.deadline, () => readNewest(this.source, key));
  }

  /** Every entry the bucket still holds for `key`, oldest first. */
  history(key: string): Promise<KvRecord[]> {
    return retrying(`reading the history of ${key} from bucket "${this.name}"`, this.deadline, () => readHistory(this.source, key));
  }

  /**
   * Writes `value` only if the key's newest KV revision is still `expectedKvRevision` (null: the
   * key must not exist, or be deleted). Resolves to the new KV revision, or null on a conflict.
   * A write that timed out may still have been stored: a conflict whose newest value is ours
   * is that write, and counts as done.
   */
  putIfUnchanged(key: string, value: string, expectedKvRevision: number | null): Promise<number | null> {
    // Set once an attempt failed in a way that may have stored it (a timeout, a lost connection).
    let maybeStored = false;
    return retrying(`writing ${key} to bucket "${this.name}"`, this.deadline, async () => {
      try {
        return expectedKvRevision === null ? await this.kv.create(key, value) : await this.kv.update(key, value, expectedKvRevision);
      } catch (error) {
        if (errorCode(error) !== String(WRONG_LAST_SEQUENCE) && !/wrong last sequence/i.test(describe(error))) {
          maybeStored ||= isTransient(error);
          throw error;
        }
        if (!maybeStored) return null;
        // Signatures are deterministic: equal bytes are this very document, whoever stored them.
        const newest = await readNewest(this.source, key);
        return newest !== null && newest.operation === 'PUT' && Buffer.from(newest.value).toString('utf8') === value ? newest.revision : null;
      }
    });
  }

  async info(): Promise<BucketInfo> {
    const info = await retrying(`reading bucket "${this.name}"`, this.deadline, () => this.source.jsm.streams.info(`KV_${this.name}`));
    return {
      name: this.name,
      replicas: info.config.num_replicas,
      history: info.config.max_msgs_per_subject,
      direct: info.config.allow_direct === true,
      rollups: info.config.allow_rollup_hdrs === true,
      leader: info.cluster?.leader ?? null,
      peers: (info.cluster?.replicas ?? []).map((r) => ({ name: r.name, current: r.current, offline: r.offline === true })),
      values: info.state.messages,
    };
  }
}

function creationFor(name: string, create: OpenBucketOptions['create'], nc: NatsConnection): BucketCreation {
  if (create === false) throw new BucketError('bucket_not_found', `bucket "${name}" does not exist (nothing has been published to it yet)`);
  if (create !== true) return create;
  if (nc.info?.cluster !== undefined)
    throw new BucketError(
      'bucket_replicas_required',
      `bucket "${name}" does not exist, and the NATS server is part of cluster "${nc.info.cluster}": create it with a replica count first (authzctl bucket create --replicas 3)`,
    );
  return { replicas: 1 };
}

/**
 * The stream nats.js would make for a KV bucket, with rollups refused and deletes denied from
 * the start: set by a later update instead, nats-server 2.9 fails to replay that update on a
 * restarted node (and crashed doing so here).
 */
async function createBucket(jsm: JetStreamManager, name: string, create: BucketCreation): Promise<void> {
  await jsm.streams.add({
    name: `KV_${name}`,
    subjects: [`$KV.${name}.>`],
    retention: RetentionPolicy.Limits,
    storage: BUCKET_DEFAULTS.storage,
    discard: DiscardPolicy.New,
    num_replicas: create.replicas,
    max_msgs_per_subject: create.history ?? BUCKET_DEFAULTS.history,
    max_msg_size: -1,
    allow_direct: true,
    allow_rollup_hdrs: false,
    deny_delete: true,
    deny_purge: true,
  });
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

const text = (record: KvRecord) => Buffer.from(record.value).toString('utf8');

/** The latest value of `key`, or null when the key was never written. */
export async function latest(bucket: ControlBucket, key: string): Promise<Latest | null> {
  const entry = await bucket.newest(key);
  if (entry === null) return null;
  if (entry.operation === 'PUT') return { jws: text(entry), kvRevision: entry.revision };
  // Deleted: the signed revision must still go on from the last document, or every sidecar
  // would refuse the next one as a rollback.
  const lastPut = (await bucket.history(key)).filter((e) => e.operation === 'PUT').at(-1);
  return { jws: lastPut === undefined ? null : text(lastPut), kvRevision: entry.revision };
}

/** The values (`PUT`s) the bucket still holds for `key`, oldest first, as text. */
export async function storedValues(bucket: ControlBucket, key: string): Promise<string[]> {
  return (await bucket.history(key)).filter((e) => e.operation === 'PUT').map(text);
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
export async function updateKey(bucket: ControlBucket, key: string, build: (current: Latest | null) => Promise<string>, retries = 3): Promise<Written> {
  for (let attempt = 0; attempt <= retries; attempt++) {
    const current = await latest(bucket, key);
    const value = await build(current);
    const kvRevision = await bucket.putIfUnchanged(key, value, current?.kvRevision ?? null);
    if (kvRevision !== null) return { value, kvRevision };
  }
  throw new BucketError('bucket_conflict', `${key} kept changing while publishing (${retries + 1} attempts); try again`);
}
