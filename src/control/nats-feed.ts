import { setTimeout as sleep } from 'node:timers/promises';
import type { KV, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import type { ControlPlane } from './nats-connect.js';

export interface KvFeedEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** The KV revision (the bucket stream's sequence), strictly increasing per key. */
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
}

/**
 * What the feed reports (it never logs). `fromRevision` 0 means "the latest value".
 * - `kv-watching`: a watch on `key` is (re)established.
 * - `kv-rewatch`: a live watch ended (`reason`: `reconnected`, `watch ended` or the error) and
 *   is being re-created from the last delivered revision + 1.
 * - `kv-watch-error`: establishing a watch failed; retried with backoff (`attempt` counts).
 * - `kv-bucket-missing`: the bucket does not exist (once per episode, not per retry).
 * - `kv-bucket-reset`: the bucket was re-created or lost its tail (its last sequence is below
 *   what was delivered), so the key is watched from its latest value again.
 * - `kv-apply-error`: `onEntry` threw; the revision counts as delivered, it is not retried.
 */
export type KvFeedEvent =
  | { readonly type: 'kv-watching'; readonly bucket: string; readonly key: string; readonly fromRevision: number }
  | { readonly type: 'kv-rewatch'; readonly bucket: string; readonly key: string; readonly reason: string; readonly fromRevision: number }
  | { readonly type: 'kv-watch-error'; readonly bucket: string; readonly key: string; readonly message: string; readonly attempt: number }
  | { readonly type: 'kv-bucket-missing'; readonly bucket: string }
  | { readonly type: 'kv-bucket-reset'; readonly bucket: string; readonly key: string; readonly lastRevision: number }
  | { readonly type: 'kv-apply-error'; readonly bucket: string; readonly key: string; readonly revision: number; readonly message: string };

export interface KvFeedOptions {
  readonly control: Pick<ControlPlane, 'connection' | 'connected' | 'listen'>;
  readonly bucket: string;
  /** Exact KV keys (no wildcards), each watched on its own. */
  readonly keys: readonly string[];
  /** Awaited; never called twice at once for the same key, nor after stop() resolves. */
  readonly onEntry: (entry: KvFeedEntry) => void | Promise<void>;
  readonly onEvent?: (event: KvFeedEvent) => void;
  /** Cap on the retry backoff (default 1000 ms); the first retry waits ~100 ms. */
  readonly maxBackoffMs?: number;
  /** JetStream API request timeout (default 2000 ms); bounds how long stop() can wait. */
  readonly requestTimeoutMs?: number;
}

export interface KvFeed {
  stop(): Promise<void>;
  /** The last revision delivered to onEntry for `key`, 0 before the first. */
  lastRevision(key: string): number;
}

// nats.js's own rules for keys, minus wildcards: a feed watches exact keys only.
const KEY = /^[-/=\w]+(\.[-/=\w]+)*$/;
const BUCKET = /^[-\w]+$/;
/** A watch that lived this long was healthy: its end does not count towards the backoff. */
const HEALTHY_MS = 5000;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number } };
  return e?.api_error?.err_code === 10059 || (e?.code === '404' && /stream not found/i.test(describe(err)));
}

/**
 * Delivers, for each key, its latest value and then every change, across server restarts,
 * reconnects and a bucket that appears late. One ordered-consumer watch per key.
 *
 * nats.js resets an ordered consumer itself only after two missed 5 s idle heartbeats, and not
 * at all while disconnected; a restarted server has lost the (memory-stored) consumer. So every
 * reconnect re-creates every watch at once, resuming from the last delivered revision + 1.
 */
export function startKvFeed(options: KvFeedOptions): KvFeed {
  const { control, bucket, onEvent } = options;
  if (!BUCKET.test(bucket)) throw new TypeError(`startKvFeed: bucket ${JSON.stringify(bucket)} is not a valid bucket name`);
  const keys = [...new Set(options.keys)];
  if (keys.length === 0) throw new TypeError('startKvFeed: keys must not be empty');
  for (const key of keys) {
    if (!KEY.test(key)) throw new TypeError(`startKvFeed: key ${JSON.stringify(key)} is not an exact KV key`);
  }
  const maxBackoff = options.maxBackoffMs ?? 1000;
  const timeout = options.requestTimeoutMs ?? 2000;

  const abort = new AbortController();
  const last = new Map<string, number>(keys.map((key) => [key, 0]));
  const bucketCreatedSeen = new Map<string, string>();
  const live = new Map<string, QueuedIterator<KvEntry>>();
  const wakers = new Set<() => void>();
  // Bumped on every (re)connect: a watch created under an older epoch is re-created.
  let epoch = 0;
  let bucketMissing = false;

  const emit = (event: KvFeedEvent) => {
    try {
      onEvent?.(event);
    } catch {
      // An observer's failure must not stop the feed.
    }
  };
  const wakeAll = () => {
    for (const wake of [...wakers]) wake();
  };
  const unlisten = control.listen((event) => {
    if (event.type !== 'nats-connected' && event.type !== 'nats-reconnected') return;
    epoch++;
    for (const iter of live.values()) iter.stop();
    wakeAll();
  });

  async function connection(): Promise<NatsConnection | null> {
    while (!abort.signal.aborted) {
      const nc = control.connection();
      if (nc && control.connected) return nc;
      await new Promise<void>((resolve) => {
        const wake = () => {
          wakers.delete(wake);
          resolve();
        };
        wakers.add(wake);
      });
    }
    return null;
  }

  function backoff(attempt: number): Promise<void> {
    const ms = Math.min(maxBackoff, 100 * 2 ** Math.max(0, attempt - 1)) * (0.5 + Math.random() / 2);
    return sleep(ms, undefined, { signal: abort.signal }).catch(() => {});
  }

  /** The bucket, or null when it does not exist (yet); notices a re-created or truncated one. */
  async function openBucket(nc: NatsConnection, key: string): Promise<KV | null> {
    const jsm = await nc.jetstreamManager({ timeout, checkAPI: false });
    let info;
    try {
      info = await jsm.streams.info(`KV_${bucket}`);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      if (!bucketMissing) emit({ type: 'kv-bucket-missing', bucket });
      bucketMissing = true;
      return null;
    }
    bucketMissing = false;
    const seen = bucketCreatedSeen.get(key);
    const lastRevision = last.get(key)!;
    if ((seen !== undefined && seen !== info.created) || info.state.last_seq < lastRevision) {
      emit({ type: 'kv-bucket-reset', bucket, key, lastRevision });
      last.set(key, 0);
    }
    bucketCreatedSeen.set(key, info.created);
    return nc.jetstream({ timeout }).views.kv(bucket, { bindOnly: true });
  }

  async function apply(key: string, entry: KvEntry): Promise<void> {
    try {
      await options.onEntry({ key, value: entry.value, revision: entry.revision, operation: entry.operation });
    } catch (err) {
      emit({ type: 'kv-apply-error', bucket, key, revision: entry.revision, message: describe(err) });
    }
    last.set(key, entry.revision);
  }

  /** Runs one watch to its end and says why it ended; throws only if it cannot be created. */
  async function watchOnce(nc: NatsConnection, kv: KV, key: string, started: number): Promise<string> {
    const fromRevision = last.get(key)! > 0 ? last.get(key)! + 1 : 0;
    const iter = await kv.watch({ key, resumeFromRevision: fromRevision || undefined });
    live.set(key, iter);
    try {
      if (abort.signal.aborted || started !== epoch || nc.isClosed()) return 'reconnected';
      emit({ type: 'kv-watching', bucket, key, fromRevision });
      for await (const entry of iter) {
        // Resets and resumes may deliver again what was delivered before.
        if (entry.revision <= last.get(key)!) continue;
        await apply(key, entry);
        if (abort.signal.aborted) break;
      }
      return started !== epoch ? 'reconnected' : 'watch ended';
    } catch (err) {
      return started !== epoch ? 'reconnected' : describe(err);
    } finally {
      if (live.get(key) === iter) live.delete(key);
      iter.stop();
    }
  }

  async function follow(key: string): Promise<void> {
    let failures = 0;
    while (!abort.signal.aborted) {
      const nc = await connection();
      if (!nc) return;
      const started = epoch;
      let reason: string;
      let since: number;
      try {
        const kv = await openBucket(nc, key);
        if (!kv) {
          await backoff(++failures);
          continue;
        }
        since = Date.now();
        reason = await watchOnce(nc, kv, key, started);
      } catch (err) {
        if (abort.signal.aborted) return;
        emit({ type: 'kv-watch-error', bucket, key, message: describe(err), attempt: ++failures });
        await backoff(failures);
        continue;
      }
      if (abort.signal.aborted) return;
      emit({ type: 'kv-rewatch', bucket, key, reason, fromRevision: last.get(key)! > 0 ? last.get(key)! + 1 : 0 });
      if (reason === 'reconnected') {
        failures = 0; // the server is back: re-create at once
        continue;
      }
      if (Date.now() - since >= HEALTHY_MS) failures = 0;
      await backoff(++failures);
    }
  }

  const workers = Promise.all(keys.map((key) => follow(key)));

  return {
    lastRevision: (key) => last.get(key) ?? 0,
    async stop() {
      if (!abort.signal.aborted) {
        abort.abort();
        unlisten();
        for (const iter of live.values()) iter.stop();
        wakeAll();
      }
      await workers;
    },
  };
}
