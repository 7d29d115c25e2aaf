/**
 * Reads of single KV entries that need no consumer: the newest value of a key and the whole
 * history a key still holds. A consumer (what kv.watch and kv.history use) must be created
 * on a live node by the stream's leader, so with a node lost it can time out or land on the
 * dead node; a direct get (stream option `allow_direct`, the default for buckets nats.js and
 * authzctl create) is answered by any replica that is up, the node a client is connected to
 * first. Both the sidecar and authzctl read through here.
 */
import { ErrorCode, type JetStreamManager, type KV, type NatsConnection, type StoredMsg } from 'nats';

export interface KvRecord {
  /** The KV revision: the bucket stream's sequence number, increasing across the whole bucket. */
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
  readonly value: Uint8Array;
  /** When the server stored it. */
  readonly time: Date;
}

/** Where to read: the bucket's stream and whether its replicas answer direct gets. */
export interface KvSource {
  readonly jsm: JetStreamManager;
  readonly bucket: string;
  readonly direct: boolean;
}

/** The most history entries a KV key can hold (nats.js and the server cap `history` at 64). */
const MAX_HISTORY = 64;

type Query = { last_by_subj: string } | { seq: number; next_by_subj: string };

/**
 * Direct gets go to one member of a queue group of replicas, and a frozen or cut-off one can
 * be picked and never answer; replicas still catching up after a leader change may stop
 * answering them for a while (seen with nats-server 2.9). So a timed-out direct get is sent
 * again, then asked of the stream's leader instead.
 */
async function getMessage(source: KvSource, query: Query): Promise<StoredMsg | null> {
  if (!source.direct) return getMessageOnce(source, query, false);
  for (let attempt = 1; attempt < DIRECT_GET_ATTEMPTS; attempt++) {
    try {
      return await getMessageOnce(source, query, true);
    } catch (error) {
      if ((error as { code?: string }).code !== ErrorCode.Timeout) throw error;
    }
  }
  return getMessageOnce(source, query, false);
}

const DIRECT_GET_ATTEMPTS = 3;

async function getMessageOnce(source: KvSource, query: Query, direct: boolean): Promise<StoredMsg | null> {
  const stream = `KV_${source.bucket}`;
  try {
    // nats.js types the direct API only on its implementation, not on JetStreamManager.
    const api = (source.jsm as JetStreamManager & { direct: { getMessage(stream: string, query: Query): Promise<StoredMsg> } }).direct;
    return direct ? await api.getMessage(stream, query) : await source.jsm.streams.getMessage(stream, query);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === ErrorCode.JetStream404NoMessages || /message not found|no message found/i.test(String((error as Error).message))) return null;
    throw error;
  }
}

function toRecord(msg: StoredMsg): KvRecord {
  const operation = msg.header?.get('KV-Operation');
  return { revision: msg.seq, operation: operation === 'DEL' || operation === 'PURGE' ? operation : 'PUT', value: msg.data, time: msg.time };
}

function subjectOf(source: KvSource, key: string): string {
  return `$KV.${source.bucket}.${key}`;
}

/** The key's newest entry (a value or a delete marker), or null when it was never written. */
export async function readNewest(source: KvSource, key: string): Promise<KvRecord | null> {
  const msg = await getMessage(source, { last_by_subj: subjectOf(source, key) });
  return msg === null ? null : toRecord(msg);
}

/** Every entry the bucket still holds for `key`, oldest first (at most the bucket's history). */
export async function readHistory(source: KvSource, key: string): Promise<KvRecord[]> {
  const subject = subjectOf(source, key);
  const records: KvRecord[] = [];
  let seq = 1;
  // One more than the cap: entries written while reading may extend the tail.
  for (let i = 0; i <= MAX_HISTORY; i++) {
    const msg = await getMessage(source, { seq, next_by_subj: subject });
    if (msg === null) break;
    records.push(toRecord(msg));
    seq = msg.seq + 1;
  }
  return records;
}

/** The bucket's KV view, without the JetStream API check nats.js would otherwise send to the meta leader first. */
export function bindKv(nc: NatsConnection, name: string, direct: boolean, timeout: number): Promise<KV> {
  // Without checkAPI: false, binding first asks the JetStream API (the meta leader) for account info.
  return nc.jetstream({ timeout, checkAPI: false }).views.kv(name, { bindOnly: true, allow_direct: direct });
}
