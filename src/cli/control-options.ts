/**
 * Flags every control-plane command shares (--nats, --bucket, --signing-key, --signers,
 * --subject-prefix, --timeout), parsed once into ControlSettings, and the CLI's NATS
 * connection: one dial with a timeout, no reconnecting (a CLI fails fast; the sidecar is the
 * one that waits for NATS).
 */
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, ErrorCode, RequestStrategy, type Msg, type NatsConnection } from 'nats';
import { ControlBucket } from '../control/nats.js';
import { loadSigners, loadSigningKey, type ControlSigningKey, type Signer, type SignerSet } from '../control/index.js';
import { UsageError } from './command.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export const CONTROL_OPTIONS = {
  nats: { type: 'string', multiple: true },
  bucket: { type: 'string', default: 'authz' },
  'signing-key': { type: 'string' },
  signers: { type: 'string', multiple: true },
  'subject-prefix': { type: 'string', default: 'authz' },
  timeout: { type: 'string', default: '5s' },
  'retry-for': { type: 'string', default: '20s' },
  replicas: { type: 'string' },
} as const;

/** The help text block describing CONTROL_OPTIONS, appended to each command's help. */
export const CONTROL_HELP = `Control-plane options:
  --nats URL           NATS server; repeatable (default $AUTHZ_NATS_URL, else ${DEFAULT_NATS_URL})
  --bucket NAME        JetStream KV bucket (default authz)
  --signing-key FILE   private control-plane JWK to sign with (default $AUTHZ_SIGNING_KEY);
                       needed by publish, rotate and revoke
  --signers FILE       pinned control-plane public JWK; repeatable. Publishing commands
                       trust what these or the signing key itself signed; history and
                       revoke --list verify with them (without them they only decode)
  --subject-prefix P   NATS subject prefix (default authz)
  --timeout DURATION   connect and request timeout: 500ms, 5s, 1m (default 5s)
  --retry-for DURATION keep retrying what a lost NATS node makes fail for a while (a
                       timeout, no JetStream leader yet) this long before giving up
                       (default 20s); every command ends within about this plus --timeout
  --replicas N         when the bucket does not exist yet: create it with N replicas.
                       Required on a NATS cluster (use 3); a single server gets 1`;

export interface ControlSettings {
  readonly servers: readonly string[];
  readonly bucket: string;
  readonly signingKeyFile: string | undefined;
  readonly signerFiles: readonly string[];
  readonly subjectPrefix: string;
  readonly timeoutMs: number;
  readonly retryForMs: number;
  /** Replica count for a bucket created by this command; undefined: none given. */
  readonly replicas: number | undefined;
}

interface ControlValues {
  nats?: string[];
  bucket?: string;
  'signing-key'?: string;
  signers?: string[];
  'subject-prefix'?: string;
  timeout?: string;
  'retry-for'?: string;
  replicas?: string;
}

/** The settings from parsed flags, with the environment as the fallback (read here, not at import). */
export function controlSettings(values: ControlValues, env: NodeJS.ProcessEnv = process.env): ControlSettings {
  const fromEnv = env.AUTHZ_NATS_URL?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const servers = values.nats?.length ? values.nats : fromEnv?.length ? fromEnv : [DEFAULT_NATS_URL];
  for (const url of servers) {
    if (!/^(?:(?:nats|tls|wss?):\/\/\S+|[^\s:/]+(?::\d+)?)$/.test(url)) throw new UsageError(`--nats: "${url}" is not a NATS URL (e.g. nats://127.0.0.1:4222)`);
  }
  const bucket = values.bucket ?? 'authz';
  if (!/^[A-Za-z0-9_-]+$/.test(bucket)) throw new UsageError(`--bucket: "${bucket}" is not a valid bucket name (letters, digits, "_" and "-")`);
  const subjectPrefix = values['subject-prefix'] ?? 'authz';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix))
    throw new UsageError(`--subject-prefix: "${subjectPrefix}" is not a subject prefix (dot-separated tokens, no wildcards)`);
  const timeoutMs = parseMillis(values.timeout ?? '5s', '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout: must be positive');
  const retryForMs = parseMillis(values['retry-for'] ?? '20s', '--retry-for');
  const replicas = values.replicas === undefined ? undefined : Number(values.replicas);
  if (replicas !== undefined && !(/^\d+$/.test(values.replicas!) && replicas >= 1 && replicas <= 5))
    throw new UsageError(`--replicas: "${values.replicas}" must be a whole number from 1 to 5`);
  const signingKeyFile = values['signing-key'] ?? (env.AUTHZ_SIGNING_KEY || undefined);
  return { servers, bucket, signingKeyFile, signerFiles: values.signers ?? [], subjectPrefix, timeoutMs, retryForMs, replicas };
}

const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A non-negative duration in milliseconds: `250ms`, `1s`, `2m`, or a bare number of seconds. */
export function parseMillis(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${option}: "${text}" is not a duration (use e.g. 500ms, 5s, 1m)`);
  return Math.round(Number(match[1]) * MS_PER_UNIT[match[2] ?? 's']);
}

/** The signing key, or a UsageError saying how to give one. */
export async function requireSigningKey(settings: ControlSettings): Promise<ControlSigningKey> {
  if (settings.signingKeyFile === undefined)
    throw new UsageError('--signing-key FILE (or AUTHZ_SIGNING_KEY) is required: the private control-plane JWK (authzctl keygen makes one)');
  try {
    return await loadSigningKey(settings.signingKeyFile);
  } catch (error) {
    throw new UsageError(`--signing-key: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The pinned signers when --signers was given, else null (documents are then only decoded). */
export async function optionalSigners(settings: ControlSettings): Promise<SignerSet | null> {
  if (settings.signerFiles.length === 0) return null;
  try {
    return await loadSigners(settings.signerFiles);
  } catch (error) {
    throw new UsageError(`--signers: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The signers a publisher reads the bucket with: its own key's public half plus any
 * --signers. Without this an unsigned entry (anyone with NATS publish rights can write one)
 * could set the next revision, e.g. push it past Number.MAX_SAFE_INTEGER.
 */
export async function publishingSigners(settings: ControlSettings, signingKey: ControlSigningKey): Promise<SignerSet> {
  const extra = (await optionalSigners(settings)) ?? new Map();
  const own: Signer = { kid: signingKey.kid, alg: signingKey.alg, key: signingKey.verifyKey, file: settings.signingKeyFile ?? '' };
  return new Map([...extra, [own.kid, own]]);
}

/**
 * Dials the servers that greeted the probe first, so a dead or frozen one costs nothing; an
 * unreachable cluster is a UsageError (exit 2, one line). Once connected, the client moves to
 * another server if its own one dies or stops answering pings (about 2 s), for as long as the
 * command runs.
 */
export async function connectNats(settings: ControlSettings): Promise<NatsConnection> {
  const where = settings.servers.join(',');
  try {
    const greeted = await probe(settings.servers, settings.timeoutMs);
    return await connect({
      servers: [...greeted, ...settings.servers.filter((url) => !greeted.includes(url))],
      noRandomize: true,
      name: 'authzctl',
      timeout: settings.timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 1000,
      maxPingOut: 2,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`cannot reach NATS at ${where}: ${reason}`);
  }
}

/** `nats://host:port`, `host:port` or `host` → where to dial (4222 by default). */
export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(/^[a-z]+:\/\//i.test(url) ? url : `nats://${url}`);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port ? Number(parsed.port) : 4222 };
}

/**
 * The servers that greet with NATS's INFO line: all that do within a short moment of the
 * first, or within the timeout if none has yet. A frozen node accepts the TCP connection but
 * never greets. The probe destroys its sockets, so an unreachable server fails fast (nats.js
 * gives up on a dial at its timeout but leaves the socket open, keeping the CLI alive).
 */
function probe(servers: readonly string[], timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const greeted: string[] = [];
    let pending = servers.length;
    let lastError = 'unreachable';
    let grace: NodeJS.Timeout | undefined;
    const settled = () => {
      if (--pending === 0) finish();
    };
    const sockets = servers.map((url) => {
      const { host, port } = hostPort(url);
      const socket = createConnection({ host, port });
      let greeting = '';
      socket.on('data', (chunk: Buffer) => {
        if (greeting.startsWith('INFO ')) return;
        greeting += chunk.toString('latin1');
        if (greeting.startsWith('INFO ')) {
          greeted.push(url);
          socket.destroy();
          grace ??= setTimeout(finish, Math.min(250, timeoutMs));
          settled();
        } else if (greeting.length >= 5 || !'INFO '.startsWith(greeting)) {
          socket.destroy();
          lastError = 'not a NATS server (no INFO greeting)';
          settled();
        }
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        lastError = error.code ?? error.message;
        settled();
      });
      return socket;
    });
    const timer = setTimeout(finish, timeoutMs);
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      for (const socket of sockets) socket.destroy();
      if (greeted.length > 0) resolve(greeted);
      else reject(new Error(pending === 0 ? lastError : `no NATS greeting within ${timeoutMs} ms`));
    }
  });
}

/**
 * Every reply to one request on `subject` heard within `waitMs` (none when nobody listens):
 * how a command asks every sidecar at once, which cannot know how many will answer.
 */
export async function requestAll(nc: NatsConnection, subject: string, waitMs: number): Promise<Msg[]> {
  const replies: Msg[] = [];
  try {
    for await (const msg of await nc.requestMany(subject, undefined, { maxWait: waitMs, strategy: RequestStrategy.Timer })) replies.push(msg);
  } catch (error) {
    if ((error as { code?: string }).code !== ErrorCode.NoResponders) throw error;
  }
  return replies;
}

/** How long closing may take: a frozen server never acknowledges a drain. */
const CLOSE_MS = 1000;

/** Runs `fn` with a connection and always closes it: drained (flushing what was published) if that is quick, else dropped. */
export async function withNats<T>(settings: ControlSettings, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connectNats(settings);
  try {
    return await fn(nc);
  } finally {
    const timer = new AbortController();
    await Promise.race([nc.drain().catch(() => undefined), sleep(CLOSE_MS, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
    if (!nc.isClosed()) void nc.close().catch(() => undefined);
  }
}

/**
 * Runs `fn` with the bucket open. `create`: whether a missing bucket is created (publishing
 * commands), with --replicas when given (see OpenBucketOptions.create).
 */
export function withBucket<T>(settings: ControlSettings, create: boolean, fn: (bucket: ControlBucket) => Promise<T>, history?: number): Promise<T> {
  const deadline = Date.now() + settings.retryForMs;
  return withNats(settings, async (nc) => {
    const bucket = await ControlBucket.open(nc, settings.bucket, {
      create: create && settings.replicas !== undefined ? { replicas: settings.replicas, history } : create,
      timeoutMs: settings.timeoutMs,
      deadline,
    });
    return fn(bucket);
  });
}
