import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, StorageType, type KV } from 'nats';

/** The Debian package's binary (v2.9.x); NATS_SERVER overrides it. */
export const NATS_SERVER_BIN = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsServerOptions {
  /** Client port; a free one by default. */
  port?: number;
  /** JetStream store; a temp dir (removed at exit) by default. */
  storeDir?: string;
  /** Joins a cluster: JetStream clustering needs a server name and a cluster name. */
  cluster?: { name: string; port?: number; routes?: string[]; serverName?: string };
  /** HTTP monitoring port (`-m`: /connz, /jsz, /varz…); none by default. */
  monitorPort?: number;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** `http://127.0.0.1:<monitorPort>` when a monitoring port was asked for. */
  readonly monitorUrl: string | undefined;
  /** The running process's pid (changes on restart). */
  readonly pid: number;
  /** The process's stderr (its log) since the last start. */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  kill9(): Promise<void>;
  /** Starts it again on the same port and store dir, so JetStream data survives. */
  restart(): Promise<void>;
}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
function cleanUp(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
process.once('exit', cleanUp);
// The test runner ends a timed-out file with SIGTERM, which skips 'exit': servers would outlive it.
for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(code);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A free port below Linux's ephemeral range (32768–60999), for a server that is killed and
 * started again on the same port: a port `listen(0)` handed out (freePort) goes back to the
 * kernel's pool with the kill, and another test's process asking for a free port can take it
 * before the restart. Falls back to freePort after 50 taken picks.
 */
export async function restartablePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await isFree(port)) return port;
  }
  return freePort();
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Null once a server among `servers` takes a connection and JetStream answers its account info; else why not. */
export async function jetStreamProblem(servers: string | string[], timeouts: { connectMs: number; requestMs?: number }): Promise<string | null> {
  try {
    const nc = await connect({ servers, reconnect: false, timeout: timeouts.connectMs });
    try {
      await (await nc.jetstreamManager(timeouts.requestMs === undefined ? {} : { timeout: timeouts.requestMs })).getAccountInfo();
      return null;
    } finally {
      await nc.close();
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Resolves once the server takes connections and JetStream answers its account info. */
async function waitForJetStream(url: string, child: ChildProcess, stderr: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr()}`);
    }
    const problem = await jetStreamProblem(url, { connectMs: 500 });
    if (problem === null) return;
    lastError = problem;
    await sleep(50);
  }
  throw new Error(`nats-server at ${url} not ready within ${timeoutMs} ms (${lastError}):\n${stderr()}`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const port = options.port ?? (await restartablePort());
  let storeDir = options.storeDir;
  if (!storeDir) {
    storeDir = mkdtempSync(join(tmpdir(), 'authz-nats-'));
    tempDirs.add(storeDir);
  }
  const url = `nats://127.0.0.1:${port}`;
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir];
  const { cluster } = options;
  if (cluster) {
    const clusterPort = cluster.port ?? (await restartablePort());
    args.push('-n', cluster.serverName ?? `s-${port}`, '--cluster_name', cluster.name, '--cluster', `nats://127.0.0.1:${clusterPort}`);
    if (cluster.routes?.length) args.push('--routes', cluster.routes.join(','));
  }
  if (options.monitorPort !== undefined) args.push('-m', String(options.monitorPort));

  let child!: ChildProcess;
  let log = '';
  const start = async () => {
    log = '';
    child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    const current = child;
    child.once('exit', () => children.delete(current));
    child.once('error', (err) => (log += `spawn failed: ${err.message}\n`));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      // A clustered server's JetStream waits for its peers, so only check it alone.
      if (cluster) await waitForPort(port, 10_000, () => log, child);
      else await waitForJetStream(url, child, () => log, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const done = exited(child);
    child.kill(signal);
    await done;
  };
  await start();

  return {
    url,
    port,
    storeDir,
    monitorUrl: options.monitorPort === undefined ? undefined : `http://127.0.0.1:${options.monitorPort}`,
    get pid() {
      return child.pid ?? -1;
    },
    stderr: () => log,
    stop,
    kill9: () => stop('SIGKILL'),
    async restart() {
      await stop();
      await start();
    },
  };
}

async function waitForPort(port: number, timeoutMs: number, stderr: () => string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr()}`);
    try {
      const nc = await connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 500 });
      await nc.close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nats-server on port ${port} not accepting connections within ${timeoutMs} ms:\n${stderr()}`);
}

/** Creates a KV bucket (history 10, file storage) and closes its connection. */
export async function createBucket(url: string, name: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    await nc.jetstream().views.kv(name, { history: 10, storage: StorageType.File });
  } finally {
    await nc.close();
  }
}

/** A writer connection for tests: `put` retries until the server acknowledges. */
export async function kvWriter(
  url: string | string[],
  bucket: string,
): Promise<{ kv: KV; put(key: string, value: string): Promise<number>; close(): Promise<void> }> {
  // Pings as often as the sidecar's, so a frozen server is left within ~1.5 s, not minutes.
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100, reconnectJitter: 50, pingInterval: 500, maxPingOut: 2 });
  const kv = await nc.jetstream({ timeout: 1000 }).views.kv(bucket, { bindOnly: true });
  return {
    kv,
    async put(key, value) {
      for (;;) {
        try {
          return await kv.put(key, new TextEncoder().encode(value));
        } catch {
          await sleep(100);
        }
      }
    },
    close: () => nc.close(),
  };
}
