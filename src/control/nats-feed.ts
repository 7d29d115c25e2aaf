import { setTimeout as sleep } from 'node:timers/promises';
import type { KV, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import type { ControlPlane } from './nats-connect.js';
import { bindKv, readHistory, readNewest, type KvRecord, type KvSource } from './kv-reads.js';

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
 * - `kv-stale-watch`: the watch still lacked the bucket's newest entry (`newest`) a moment
 *   after a check read it (its consumer is gone, e.g. with a dead node): the entry is delivered
 *   from the check and the watch re-created.
 * - `kv-check-failed` / `kv-check-recovered`: the newest revision cannot be read (first failure
 *   of an episode) / can again; meanwhile the key cannot be confirmed current.
 */
export type KvFeedEvent =
  | { readonly type: 'kv-watching'; readonly bucket: string; readonly key: string; readonly fromRevision: number }
  | { readonly type: 'kv-rewatch'; readonly bucket: string; readonly key: string; readonly reason: string; readonly fromRevision: number }
  | { readonly type: 'kv-watch-error'; readonly bucket: string; readonly key: string; readonly message: string; readonly attempt: number }
  | { readonly type: 'kv-bucket-missing'; readonly bucket: string }
  | { readonly type: 'kv-bucket-reset'; readonly bucket: string; readonly key: string; readonly lastRevision: number }
  | { readonly type: 'kv-apply-error'; readonly bucket: string; readonly key: string; readonly revision: number; readonly message: string }
  | { readonly type: 'kv-stale-watch'; readonly bucket: string; readonly key: string; readonly delivered: number; readonly newest: number }
  | { readonly type: 'kv-check-failed'; readonly bucket: string; readonly key: string; readonly message: string }
  | { readonly type: 'kv-check-recovered'; readonly bucket: string; readonly key: string };

export interface KvFeedOptions {
  readonly control: Pick<ControlPlane, 'connection' | 'connected' | 'listen'>;
  readonly bucket: string;
  /** Exact KV keys (no wildcards), each watched on its own. */
  readonly keys: readonly string[];
  /** Awaited; never called twice at once for the same key, nor after stop() resolves. */
  readonly onEntry: (entry: KvFeedEntry) => void | Promise<void>;
  /**
   * When a key is read from scratch (first watch, re-created bucket): every entry the bucket
   * still holds for it, oldest first, so the caller can apply the best one rather than the
   * newest by position (a replayed old value can be the newest). Serialised with onEntry.
   * Without it, only the newest entry is delivered to onEntry.
   */
  readonly onHistory?: (key: string, entries: readonly KvFeedEntry[]) => void | Promise<void>;
  readonly onEvent?: (event: KvFeedEvent) => void;
  /** Cap on the retry backoff (default 1000 ms); the first retry waits ~100 ms. */
  readonly maxBackoffMs?: number;
  /** JetStream API request timeout (default 2000 ms); bounds how long stop() can wait. */
  readonly requestTimeoutMs?: number;
  /**
   * How often each key's newest revision is read with a direct get (any live replica answers)
   * to confirm the watch has it (default 500 ms). A key whose watch still lacks the newest
   * entry a moment after a check read it is delivered from the check and its watch re-created,
   * so a watch whose consumer died with a node is noticed within about one interval even while
   * the connection itself is healthy.
   */
  readonly checkIntervalMs?: number;
}

export interface KvFeed {
  stop(): Promise<void>;
  /** The last revision delivered to onEntry for `key`, 0 before the first. */
  lastRevision(key: string): number;
  /**
   * Epoch ms when the feed last knew `key` was current: a check found nothing newer than what
   * was delivered, or the watch delivered an entry with nothing pending behind it. 0: never.
   */
  confirmedAt(key: string): number;
}

// nats.js's own rules for keys, minus wildcards: a feed watches exact keys only.
const KEY = /^[-/=\w]+(\.[-/=\w]+)*$/;
const BUCKET = /^[-\w]+$/;
/** A watch that lived this long was healthy: its end does not count towards the backoff. */
const HEALTHY_MS = 5000;
/**
 * How long after a check read an entry the watch may still be without it before it counts as
 * stale: a live watch has it within milliseconds of the write, so this only absorbs a busy
 * event loop.
 */
const STALE_GRACE_MS = 250;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number } };
  return e?.api_error?.err_code === 10059 || (e?.code === '404' && /stream not found/i.test(describe(err)));
}

/**
 * Delivers, for each key, its latest value and then every change, across server restarts,
 * reconnects, lost nodes and a bucket that appears late. One ordered-consumer watch per key,
 * and a periodic check of each key's newest revision that needs no consumer.
 *
 * nats.js resets an ordered consumer itself only after two missed 5 s idle heartbeats, and not
 * at all while disconnected; a restarted server has lost the (memory-stored) consumer. So every
 * reconnect re-creates every watch at once, resuming from the last delivered revision + 1. A
 * consumer that died with its node while this connection stayed up is caught by the check.
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
  const checkInterval = options.checkIntervalMs ?? 500;
  if (!Number.isFinite(checkInterval) || checkInterval <= 0) throw new TypeError('startKvFeed: checkIntervalMs must be a positive number');
  const checkTimeout = Math.min(timeout, Math.max(checkInterval, 250));

  const abort = new AbortController();
  const last = new Map<string, number>(keys.map((key) => [key, 0]));
  const confirmed = new Map<string, number>(keys.map((key) => [key, 0]));
  const bucketCreatedSeen = new Map<string, string>();
  const live = new Map<string, QueuedIterator<KvEntry>>();
  /** Keys whose live watch the check stopped as stale: re-created at once, not after a backoff. */
  const staleStopped = new Set<string>();
  /** Per key, the newest revision the watch (or a check) has handed over, delivered or queued. */
  const received = new Map<string, number>(keys.map((key) => [key, 0]));
  /** Keys whose history is being read. */
  const loading = new Set<string>();
  const checkFailing = new Set<string>();
  /** Per key, the tail of its delivery chain: onEntry/onHistory never overlap for one key. */
  const queues = new Map<string, Promise<void>>();
  const wakers = new Set<() => void>();
  // Bumped on every (re)connect: a watch created under an older epoch is re-created.
  let epoch = 0;
  let bucketMissing = false;
  // The bucket as the checks read it, learnt from the stream info each watch starts with.
  let source: { nc: NatsConnection; source: KvSource } | null = null;

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
      received.set(key, 0);
    }
    bucketCreatedSeen.set(key, info.created);
    const direct = info.config.allow_direct === true;
    // Checks wait no longer than their interval: a live replica answers a direct get in a
    // millisecond or so, and a check stuck on a dead one would delay the next check.
    const checkJsm = await nc.jetstreamManager({ timeout: checkTimeout, checkAPI: false });
    source = { nc, source: { jsm: checkJsm, bucket, direct } };
    return bindKv(nc, bucket, direct, timeout);
  }

  /** Runs `fn` after everything queued for `key` before it. */
  function serialised(key: string, fn: () => Promise<void>): Promise<void> {
    const next = (queues.get(key) ?? Promise.resolve()).then(fn);
    queues.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  }

  /** Delivers one entry unless something at or above its revision was delivered already. */
  function deliver(key: string, entry: KvFeedEntry): Promise<void> {
    received.set(key, Math.max(received.get(key)!, entry.revision));
    return serialised(key, async () => {
      if (abort.signal.aborted || entry.revision <= last.get(key)!) return;
      try {
        await options.onEntry(entry);
      } catch (err) {
        emit({ type: 'kv-apply-error', bucket, key, revision: entry.revision, message: describe(err) });
      }
      last.set(key, entry.revision);
    });
  }

  const asEntry = (key: string, record: KvRecord): KvFeedEntry => ({ key, value: record.value, revision: record.revision, operation: record.operation });

  /** A key read from scratch: its whole history (direct gets), then the watch resumes after it. */
  async function loadHistory(key: string): Promise<void> {
    loading.add(key);
    try {
      await loadHistoryNow(key);
    } finally {
      loading.delete(key);
    }
  }

  async function loadHistoryNow(key: string): Promise<void> {
    const records = await readHistory(source!.source, key);
    if (records.length === 0) return;
    const newest = records.at(-1)!;
    if (options.onHistory === undefined) return deliver(key, asEntry(key, newest));
    received.set(key, Math.max(received.get(key)!, newest.revision));
    await serialised(key, async () => {
      if (abort.signal.aborted || newest.revision <= last.get(key)!) return;
      const fresh = records.filter((r) => r.revision > last.get(key)!).map((r) => asEntry(key, r));
      try {
        await options.onHistory!(key, fresh);
      } catch (err) {
        emit({ type: 'kv-apply-error', bucket, key, revision: newest.revision, message: describe(err) });
      }
      last.set(key, newest.revision);
    });
    confirmed.set(key, Date.now());
  }

  /** Runs one watch to its end and says why it ended; throws only if it cannot be created. */
  async function watchOnce(nc: NatsConnection, kv: KV, key: string, started: number): Promise<string> {
    // What the watch handed over may still be queued for onEntry: resume after it, not after `last`.
    if (received.get(key) === 0) await loadHistory(key);
    const fromRevision = received.get(key)! > 0 ? received.get(key)! + 1 : 0;
    const iter = await kv.watch({ key, resumeFromRevision: fromRevision || undefined });
    live.set(key, iter);
    try {
      if (abort.signal.aborted || started !== epoch || nc.isClosed()) return 'reconnected';
      emit({ type: 'kv-watching', bucket, key, fromRevision });
      for await (const entry of iter) {
        // Queued, not awaited: `received` then says what the watch has, however long applying
        // takes. Resets and resumes may deliver again what was delivered before (skipped).
        void deliver(key, { key, value: entry.value, revision: entry.revision, operation: entry.operation });
        if (entry.delta === 0) confirmed.set(key, Date.now());
        if (abort.signal.aborted) break;
      }
      return started !== epoch ? 'reconnected' : staleStopped.has(key) ? 'stale' : 'watch ended';
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
        staleStopped.delete(key);
        reason = await watchOnce(nc, kv, key, started);
      } catch (err) {
        if (abort.signal.aborted) return;
        emit({ type: 'kv-watch-error', bucket, key, message: describe(err), attempt: ++failures });
        await backoff(failures);
        continue;
      }
      if (abort.signal.aborted) return;
      emit({ type: 'kv-rewatch', bucket, key, reason, fromRevision: received.get(key)! > 0 ? received.get(key)! + 1 : 0 });
      if (reason === 'reconnected' || reason === 'stale') {
        failures = 0; // the server is back, or the consumer is known dead: re-create at once
        continue;
      }
      if (Date.now() - since >= HEALTHY_MS) failures = 0;
      await backoff(++failures);
    }
  }

  /**
   * One check of `key`: its newest revision against what the watch has received. Still behind
   * a moment later means the watch is not delivering: deliver the newest entry from here
   * (documents are whole states, so the newest supersedes any it skips) and re-create the watch.
   */
  async function check(from: KvSource, key: string): Promise<void> {
    let newest: KvRecord | null;
    try {
      newest = await readNewest(from, key);
    } catch (err) {
      if (!checkFailing.has(key)) emit({ type: 'kv-check-failed', bucket, key, message: describe(err) });
      checkFailing.add(key);
      return;
    }
    if (checkFailing.delete(key)) emit({ type: 'kv-check-recovered', bucket, key });
    if (newest === null || newest.revision <= received.get(key)!) {
      confirmed.set(key, Date.now());
      return;
    }
    // A live watch has the entry within milliseconds of the write; this one read it first.
    await sleep(STALE_GRACE_MS, undefined, { signal: abort.signal }).catch(() => {});
    if (abort.signal.aborted || newest.revision <= received.get(key)!) return;
    emit({ type: 'kv-stale-watch', bucket, key, delivered: last.get(key)!, newest: newest.revision });
    await deliver(key, asEntry(key, newest));
    confirmed.set(key, Date.now());
    const iter = live.get(key);
    if (iter !== undefined) {
      staleStopped.add(key);
      iter.stop();
    }
  }

  /** Each key is checked on its own, so a check waiting on a dead replica delays no other key. */
  async function checkLoop(key: string): Promise<void> {
    while (!abort.signal.aborted) {
      await sleep(checkInterval, undefined, { signal: abort.signal }).catch(() => {});
      const current = source;
      if (abort.signal.aborted || current === null || !control.connected || current.nc !== control.connection()) continue;
      // A key still being read from scratch is not checked: its watch has not started yet.
      if (bucketCreatedSeen.has(key) && !loading.has(key)) await check(current.source, key);
    }
  }

  const workers = Promise.all([...keys.map((key) => follow(key)), ...keys.map((key) => checkLoop(key))]);

  return {
    lastRevision: (key) => last.get(key) ?? 0,
    confirmedAt: (key) => confirmed.get(key) ?? 0,
    async stop() {
      if (!abort.signal.aborted) {
        abort.abort();
        unlisten();
        for (const iter of live.values()) iter.stop();
        wakeAll();
      }
      await workers;
      await Promise.all(queues.values());
    },
  };
}
