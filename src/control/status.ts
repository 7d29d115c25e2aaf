import { hostname } from 'node:os';
import type { Subscription } from 'nats';
import type { ControlPlane } from './nats-connect.js';
import { SUBJECTS, type StatusReport } from './types.js';

const encoder = new TextEncoder();

/** POD_NAME (set from the downward API in k8s/), else HOSTNAME, else host-pid. */
export function defaultInstance(env: NodeJS.ProcessEnv = process.env): string {
  const name = env.POD_NAME || env.HOSTNAME || `${hostname()}-${process.pid}`;
  return name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
}

export interface StatusReporterOptions {
  readonly control: ControlPlane;
  readonly prefix: string;
  readonly service: string;
  readonly instance: string;
  readonly report: () => StatusReport;
  readonly intervalMs: number;
}

export interface StatusReporter {
  /** Something in the report changed: publish soon (coalesced). */
  changed(): void;
  stop(): void;
}

/**
 * Answers every request on `subject` with `answer()`, from the first connection on: nats.js
 * re-establishes the subscription after a reconnect on the same connection object.
 */
export function answerRequests(control: ControlPlane, subject: string, answer: () => Uint8Array): { stop(): void } {
  let subscription: Subscription | null = null;
  const subscribe = () => {
    const nc = control.connection();
    if (nc === null || subscription !== null) return;
    subscription = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error === null && msg.reply) msg.respond(answer());
      },
    });
  };
  const unlisten = control.listen((event) => {
    if (event.type === 'nats-connected' || event.type === 'nats-reconnected') subscribe();
  });
  subscribe();
  return {
    stop() {
      unlisten();
      subscription?.unsubscribe();
    },
  };
}

/**
 * Publishes this sidecar's StatusReport on `<prefix>.status.<service>.<instance>` on change,
 * on (re)connect and every `intervalMs`, and answers `<prefix>.status-ping` requests, so
 * `authzctl status` sees every sidecar at once without waiting for the period.
 */
export function startStatusReporter(options: StatusReporterOptions): StatusReporter {
  const { control, prefix, service, instance } = options;
  const subject = SUBJECTS.status(prefix, service, instance);
  let pending: NodeJS.Timeout | undefined;

  const encode = () => encoder.encode(JSON.stringify(options.report()));
  const publish = () => {
    const nc = control.connection();
    if (nc === null || !control.connected) return;
    try {
      nc.publish(subject, encode());
    } catch {
      // Closed or draining: the next period or reconnect publishes again.
    }
  };
  const pings = answerRequests(control, SUBJECTS.statusPing(prefix), encode);
  const unlisten = control.listen((event) => {
    if (event.type === 'nats-connected' || event.type === 'nats-reconnected') publish();
  });
  const timer = setInterval(publish, options.intervalMs);
  timer.unref();

  return {
    changed() {
      if (pending !== undefined) return;
      pending = setTimeout(() => {
        pending = undefined;
        publish();
      }, 25);
      pending.unref();
    },
    stop() {
      unlisten();
      clearInterval(timer);
      clearTimeout(pending);
      pings.stop();
    },
  };
}
