import { setTimeout as sleep } from 'node:timers/promises';
import { connect, DebugEvents, Events, type ConnectionOptions, type NatsConnection, type Status } from 'nats';

/**
 * The control-plane connection's lifecycle, as events (the library never logs; main.ts and
 * telemetry/ decide what to log and count). `nats-reconnecting` is emitted once per outage,
 * not once per dial attempt; `nats-error` carries the first failed dial of an outage before
 * the first connection, and the server's asynchronous errors afterwards.
 */
export type ControlPlaneEvent =
  | { readonly type: 'nats-connected'; readonly server: string }
  | { readonly type: 'nats-disconnected'; readonly server?: string }
  | { readonly type: 'nats-reconnecting'; readonly server?: string }
  | { readonly type: 'nats-reconnected'; readonly server: string }
  | { readonly type: 'nats-error'; readonly message: string; readonly server?: string };

export type ControlPlaneListener = (event: ControlPlaneEvent) => void;

export interface ControlPlaneOptions {
  readonly servers: readonly string[];
  /** Try servers in random order (default), or in the listed order (e.g. the zone-local node first). */
  readonly randomize?: boolean;
  /** Connection name shown by the server (`nats server report connections`). */
  readonly name: string;
  readonly onEvent?: ControlPlaneListener;
  /** Wait between dial attempts to a server (default 250 ms) plus up to `reconnectJitterMs` (default 250 ms). */
  readonly reconnectTimeWaitMs?: number;
  readonly reconnectJitterMs?: number;
  /**
   * A server that answers no ping for `pingIntervalMs × maxPingOut` is treated as gone (default
   * 500 ms × 2): a frozen node is left within 1–1.5 s, inside the control plane's 2 s promise.
   */
  readonly pingIntervalMs?: number;
  readonly maxPingOut?: number;
  /** Dial timeout per attempt (default 2 s), so an unroutable server does not stall the loop. */
  readonly dialTimeoutMs?: number;
}

export interface ControlPlane {
  /** The live connection, or null before the first successful connect and after close(). */
  connection(): NatsConnection | null;
  readonly connected: boolean;
  /** Adds a listener for the same events as `onEvent`; returns its removal. */
  listen(listener: ControlPlaneListener): () => void;
  /** Stops dialling, drains the connection if there is one. Never rejects. */
  close(): Promise<void>;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`connectControlPlane: ${name} must be a positive number`);
  return value;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Starts connecting in the background and returns at once. A server that is not up yet never
 * fails the sidecar: dialling goes on (jittered) until it answers, then nats.js reconnects
 * forever. The first connect loop is ours rather than `waitOnFirstConnect`, because nats.js
 * offers no way to abandon that loop, and close() must leave no timers behind.
 */
export function connectControlPlane(options: ControlPlaneOptions): ControlPlane {
  if (options.servers.length === 0) throw new TypeError('connectControlPlane: servers must not be empty');
  if (!options.name) throw new TypeError('connectControlPlane: name must not be empty');
  const timeWait = positive('reconnectTimeWaitMs', options.reconnectTimeWaitMs, 250);
  const jitter = positive('reconnectJitterMs', options.reconnectJitterMs, 250);
  const connectOptions: ConnectionOptions = {
    servers: [...options.servers],
    noRandomize: options.randomize === false,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: timeWait,
    reconnectJitter: jitter,
    pingInterval: positive('pingIntervalMs', options.pingIntervalMs, 500),
    maxPingOut: positive('maxPingOut', options.maxPingOut, 2),
    timeout: positive('dialTimeoutMs', options.dialTimeoutMs, 2000),
    waitOnFirstConnect: false,
  };

  const listeners = new Set<ControlPlaneListener>();
  if (options.onEvent) listeners.add(options.onEvent);
  const abort = new AbortController();
  let nc: NatsConnection | null = null;
  let connected = false;

  const emit = (event: ControlPlaneEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the connection must not die of it.
      }
    }
  };

  async function watchStatus(conn: NatsConnection, statuses: AsyncIterable<Status>): Promise<void> {
    let outage = false;
    for await (const status of statuses) {
      const server = typeof status.data === 'string' ? status.data : undefined;
      if (status.type === Events.Disconnect) {
        connected = false;
        outage = false;
        emit({ type: 'nats-disconnected', server });
      } else if (status.type === DebugEvents.Reconnecting && !outage) {
        outage = true;
        emit({ type: 'nats-reconnecting', server });
      } else if (status.type === Events.Reconnect) {
        connected = true;
        emit({ type: 'nats-reconnected', server: server ?? conn.getServer() });
      } else if (status.type === Events.Error) {
        emit({ type: 'nats-error', message: typeof status.data === 'string' ? status.data : JSON.stringify(status.data), server: conn.getServer() });
      }
    }
  }

  async function dialUntilConnected(): Promise<NatsConnection | null> {
    let reported = false;
    while (!abort.signal.aborted) {
      try {
        return await connect(connectOptions);
      } catch (err) {
        if (!reported) emit({ type: 'nats-error', message: `connect failed: ${message(err)}` });
        reported = true;
        await sleep(timeWait + Math.random() * jitter, undefined, { signal: abort.signal }).catch(() => {});
      }
    }
    return null;
  }

  // Runs until close(); a connection that closes on its own (e.g. an auth error the server
  // reports as fatal) is dialled again rather than left dead.
  async function run(): Promise<void> {
    while (!abort.signal.aborted) {
      const conn = await dialUntilConnected();
      if (!conn) return;
      if (abort.signal.aborted) {
        await conn.close().catch(() => {});
        return;
      }
      nc = conn;
      connected = true;
      // nats.js never ends a status() iterator when its connection closes: stop it here.
      const statuses = conn.status();
      const statusDone = watchStatus(conn, statuses).catch(() => {});
      emit({ type: 'nats-connected', server: conn.getServer() });
      const err = await conn.closed();
      (statuses as { stop?: () => void }).stop?.();
      await statusDone;
      connected = false;
      nc = null;
      if (abort.signal.aborted) return;
      emit({ type: 'nats-error', message: `connection closed: ${err ? message(err) : 'by the server'}` });
      emit({ type: 'nats-disconnected' });
    }
  }
  const running = run().catch(() => {});

  return {
    connection: () => nc,
    get connected() {
      return connected;
    },
    listen(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async close() {
      if (abort.signal.aborted) return running;
      abort.abort();
      const conn = nc;
      if (conn && !conn.isClosed()) {
        // drain() waits for the server: bounded, and skipped while it is away.
        if (connected) {
          const timer = new AbortController();
          await Promise.race([conn.drain().catch(() => {}), sleep(2000, undefined, { signal: timer.signal }).catch(() => {})]);
          timer.abort();
        }
        await conn.close().catch(() => {});
      }
      await running;
      listeners.clear();
    },
  };
}
