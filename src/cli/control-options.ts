/**
 * Flags every control-plane command shares (--nats, --bucket, --signing-key, --signers,
 * --subject-prefix, --timeout), parsed once into ControlSettings, and the CLI's NATS
 * connection: one dial with a timeout, no reconnecting (a CLI fails fast; the sidecar is the
 * one that waits for NATS).
 */
import { createConnection } from 'node:net';
import { connect, type NatsConnection } from 'nats';
import { loadSigners, loadSigningKey, type ControlSigningKey, type Signer, type SignerSet } from '../control/signers.js';
import { UsageError } from './command.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export const CONTROL_OPTIONS = {
  nats: { type: 'string', multiple: true },
  bucket: { type: 'string', default: 'authz' },
  'signing-key': { type: 'string' },
  signers: { type: 'string', multiple: true },
  'subject-prefix': { type: 'string', default: 'authz' },
  timeout: { type: 'string', default: '5s' },
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
  --timeout DURATION   connect and request timeout: 500ms, 5s, 1m (default 5s)`;

export interface ControlSettings {
  readonly servers: readonly string[];
  readonly bucket: string;
  readonly signingKeyFile: string | undefined;
  readonly signerFiles: readonly string[];
  readonly subjectPrefix: string;
  readonly timeoutMs: number;
}

interface ControlValues {
  nats?: string[];
  bucket?: string;
  'signing-key'?: string;
  signers?: string[];
  'subject-prefix'?: string;
  timeout?: string;
}

/** The settings from parsed flags, with the environment as the fallback (read here, not at import). */
export function controlSettings(values: ControlValues, env: NodeJS.ProcessEnv = process.env): ControlSettings {
  const fromEnv = env.AUTHZ_NATS_URL?.split(',').map((s) => s.trim()).filter(Boolean);
  const servers = values.nats?.length ? values.nats : fromEnv?.length ? fromEnv : [DEFAULT_NATS_URL];
  for (const url of servers) {
    if (!/^(?:(?:nats|tls|wss?):\/\/\S+|[^\s:/]+(?::\d+)?)$/.test(url)) throw new UsageError(`--nats: "${url}" is not a NATS URL (e.g. nats://127.0.0.1:4222)`);
  }
  const bucket = values.bucket ?? 'authz';
  if (!/^[A-Za-z0-9_-]+$/.test(bucket)) throw new UsageError(`--bucket: "${bucket}" is not a valid bucket name (letters, digits, "_" and "-")`);
  const subjectPrefix = values['subject-prefix'] ?? 'authz';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix)) throw new UsageError(`--subject-prefix: "${subjectPrefix}" is not a subject prefix (dot-separated tokens, no wildcards)`);
  const timeoutMs = parseMillis(values.timeout ?? '5s', '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout: must be positive');
  const signingKeyFile = values['signing-key'] ?? (env.AUTHZ_SIGNING_KEY || undefined);
  return { servers, bucket, signingKeyFile, signerFiles: values.signers ?? [], subjectPrefix, timeoutMs };
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

/** One dial with the timeout; an unreachable server is a UsageError (exit 2, one line). */
export async function connectNats(settings: ControlSettings): Promise<NatsConnection> {
  const where = settings.servers.join(',');
  try {
    await probe(settings.servers, settings.timeoutMs);
    return await connect({
      servers: [...settings.servers],
      name: 'authzctl',
      timeout: settings.timeoutMs,
      reconnect: false,
      maxReconnectAttempts: 0,
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
 * Resolves once one server greets with NATS's INFO line within the timeout. nats.js gives up
 * on a dial at its timeout but leaves the socket open, which keeps the CLI alive long after
 * the error; this probe destroys its sockets, so an unreachable server fails fast.
 */
function probe(servers: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = servers.length;
    let lastError = 'unreachable';
    const failed = (reason: string) => {
      lastError = reason;
      if (--pending === 0) finish(new Error(lastError));
    };
    const sockets = servers.map((url) => {
      const { host, port } = hostPort(url);
      const socket = createConnection({ host, port });
      let greeting = '';
      socket.on('data', (chunk: Buffer) => {
        greeting += chunk.toString('latin1');
        if (greeting.startsWith('INFO ')) finish(null);
        else if (greeting.length >= 5 || !'INFO '.startsWith(greeting)) {
          socket.destroy();
          failed('not a NATS server (no INFO greeting)');
        }
      });
      socket.once('error', (error: NodeJS.ErrnoException) => failed(error.code ?? error.message));
      return socket;
    });
    const timer = setTimeout(() => finish(new Error(`no NATS greeting within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    function finish(error: Error | null) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      if (error === null) resolve();
      else reject(error);
    }
  });
}

/** Runs `fn` with a connection and always closes it (drained, so published messages are flushed). */
export async function withNats<T>(settings: ControlSettings, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connectNats(settings);
  try {
    return await fn(nc);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}
