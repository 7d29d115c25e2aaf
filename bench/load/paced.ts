/**
 * A checking HTTP/2 gRPC load generator for long runs: calls are started on a schedule
 * (`rps` per second; unpaced when Infinity) with at most `maxInFlight` outstanding, and every
 * answer is decoded and compared with the expected CheckResponse. A call fails on a stream
 * or session error, HTTP status other than 200, grpc-status other than 0, no answer within
 * `timeoutMs`, or an answer other than the expected one. What is sent can be switched while
 * running (`use`), e.g. to tokens signed by a newly rotated key.
 *
 * Unlike h2load (which counts any HTTP 200, and a gRPC error is one) and bench/load/rotating.ts
 * (closed loop, a fixed request count), it runs for as long as it is told, at a fixed rate,
 * and judges every answer.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { answers, type Expectation } from '../checks.js';
import { GRPC_REQUEST_HEADERS } from '../grpc-call.js';
import { decodeCheckResponse } from '../request.js';

export interface PacedOptions {
  readonly port: number;
  readonly connections: number;
  /** Calls started per second, spread evenly; Infinity: as fast as `maxInFlight` allows. */
  readonly rps: number;
  /** Calls outstanding at most; when reached, the schedule waits (and falls behind). */
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  /** Answered calls slower than this are counted (`slow`), e.g. the deployment's deadline when `timeoutMs` is longer. */
  readonly slowMs?: number;
}

/** What to send (round robin over `bodies`) and what every answer must be. */
export interface Traffic {
  readonly bodies: readonly Buffer[];
  readonly expect: Expectation;
}

/** Counts over a span (since the previous `window()`, or since start for `stop()`). */
export interface LoadCounts {
  readonly seconds: number;
  readonly started: number;
  readonly completed: number;
  readonly ok: number;
  readonly failed: number;
  /** Answered as expected, but slower than `slowMs`. */
  readonly slow: number;
  /** Calls the schedule wanted started but could not (maxInFlight reached) at the span's end. */
  readonly behind: number;
  /** Latency of answered calls, µs. */
  readonly latencyUs: { readonly p50: number; readonly p99: number; readonly max: number };
}

export interface Failure {
  /** ms since the load started. */
  readonly atMs: number;
  readonly why: string;
}

interface Call {
  readonly stream: ClientHttp2Stream;
  readonly sentAt: number;
  timedOut: boolean;
}

const TICK_MS = 2;
const KEPT_FAILURES = 20;
/** A tick this much later than scheduled means the generator's own event loop stalled. */
const LATE_TICK_MS = 50;

export class PacedLoad {
  private readonly sessions: ClientHttp2Session[] = [];
  private readonly inFlight = new Set<Call>();
  private readonly failuresKept: Failure[] = [];
  private readonly failureKinds = new Map<string, number>();
  private readonly total = { started: 0, completed: 0, ok: 0, failed: 0, slow: 0 };
  private readonly totalLatency: RecordableHistogram = createHistogram();
  private win = { started: 0, completed: 0, ok: 0, failed: 0, slow: 0, at: 0 };
  private winLatency: RecordableHistogram = createHistogram();
  private traffic: Traffic;
  private next = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private stopping = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly o: PacedOptions,
    traffic: Traffic,
  ) {
    if (traffic.bodies.length === 0) throw new TypeError('PacedLoad: no request bodies');
    this.traffic = traffic;
  }

  /** Switches what is sent from the next call on; calls already in flight keep their expectation. */
  use(traffic: Traffic): void {
    if (traffic.bodies.length === 0) throw new TypeError('PacedLoad: no request bodies');
    this.traffic = traffic;
    this.next = 0;
  }

  start(): void {
    for (let i = 0; i < this.o.connections; i++) this.sessions.push(this.open());
    this.startedAt = performance.now();
    this.win.at = this.startedAt;
    this.lastTick = this.startedAt;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Counts since the previous call (or start); starts a new window. */
  window(): LoadCounts {
    const now = performance.now();
    const counts = this.counts(this.win, this.winLatency, now - this.win.at, now);
    this.win = { started: 0, completed: 0, ok: 0, failed: 0, slow: 0, at: now };
    this.winLatency = createHistogram();
    return counts;
  }

  /** Stops starting calls, waits for those in flight (each ends by its timeout) and closes the connections. */
  async stop(): Promise<LoadCounts> {
    const now = performance.now();
    const behind = this.behind(now);
    this.stopping = true;
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    clearInterval(this.timer);
    await Promise.all(
      this.sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            s.close();
          }),
      ),
    );
    return { ...this.counts(this.total, this.totalLatency, now - this.startedAt, now), behind };
  }

  /** The first failures (at most 20), and every failure counted by kind. */
  failures(): { readonly first: readonly Failure[]; readonly byKind: ReadonlyMap<string, number> } {
    return { first: this.failuresKept, byKind: this.failureKinds };
  }

  private counts(
    c: { started: number; completed: number; ok: number; failed: number; slow: number },
    h: RecordableHistogram,
    ms: number,
    now: number,
  ): LoadCounts {
    const latencyUs = h.count === 0 ? { p50: NaN, p99: NaN, max: NaN } : { p50: h.percentile(50), p99: h.percentile(99), max: h.max };
    return { seconds: ms / 1000, started: c.started, completed: c.completed, ok: c.ok, failed: c.failed, slow: c.slow, behind: this.behind(now), latencyUs };
  }

  private behind(now: number): number {
    if (!Number.isFinite(this.o.rps)) return 0;
    return Math.max(0, Math.floor(((now - this.startedAt) / 1000) * this.o.rps) - this.total.started);
  }

  private tick(): void {
    const now = performance.now();
    const late = now - this.lastTick > LATE_TICK_MS;
    this.lastTick = now;
    // Calls past their deadline are cancelled; their 'close' counts them as failed. Not when
    // this tick is late: the generator itself was stalled, and answers may be waiting unread.
    for (const call of late ? [] : this.inFlight) {
      if (now - call.sentAt < this.o.timeoutMs) break; // insertion order = send order
      if (!call.timedOut) {
        call.timedOut = true;
        call.stream.close(constants.NGHTTP2_CANCEL);
      }
    }
    if (this.stopping) {
      if (this.inFlight.size === 0) this.drained?.();
      return;
    }
    this.pump(now);
  }

  private pump(now: number): void {
    const due = Number.isFinite(this.o.rps) ? Math.floor(((now - this.startedAt) / 1000) * this.o.rps) - this.total.started : Infinity;
    const room = this.o.maxInFlight - this.inFlight.size;
    for (let n = Math.min(due, room); n > 0; n--) this.send();
  }

  private send(): void {
    const { bodies, expect } = this.traffic;
    const body = bodies[this.next++ % bodies.length];
    const slot = this.total.started % this.sessions.length;
    if (this.sessions[slot].closed || this.sessions[slot].destroyed) this.sessions[slot] = this.open();
    const session = this.sessions[slot];
    this.total.started++;
    this.win.started++;

    let httpStatus = 0;
    let grpcStatus: unknown;
    let streamError: string | null = null;
    const chunks: Buffer[] = [];
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(GRPC_REQUEST_HEADERS);
    } catch (error) {
      this.finish(`request() threw: ${(error as Error).message}`, 'request() threw', 0);
      return;
    }
    const call: Call = { stream, sentAt: performance.now(), timedOut: false };
    this.inFlight.add(call);
    stream.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      grpcStatus = headers['grpc-status'] ?? grpcStatus;
    });
    stream.on('trailers', (trailers) => (grpcStatus = trailers['grpc-status'] ?? grpcStatus));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error) => (streamError ??= error.message));
    stream.on('close', () => {
      this.inFlight.delete(call);
      let why: string | null;
      if (call.timedOut) why = `timeout: no answer within ${this.o.timeoutMs} ms`;
      else if (streamError !== null) why = `stream error: ${streamError}`;
      else if (httpStatus !== 200) why = `HTTP ${httpStatus}`;
      else if (grpcStatus !== '0') why = `grpc-status ${String(grpcStatus)}`;
      else why = this.judge(Buffer.concat(chunks), expect);
      this.finish(why, why === null ? null : why.split(':')[0], performance.now() - call.sentAt);
      if (this.stopping) {
        if (this.inFlight.size === 0) this.drained?.();
      } else {
        this.pump(performance.now());
      }
    });
    stream.end(body);
  }

  /** null when the gRPC message is the expected CheckResponse, else why not. */
  private judge(frame: Buffer, expect: Expectation): string | null {
    if (frame.length < 5 || frame.length !== 5 + frame.readUInt32BE(1)) return `bad frame: ${frame.length} bytes`;
    try {
      const outcome = decodeCheckResponse(frame.subarray(5));
      return answers(outcome, expect) ? null : `wrong answer: expected ${expect.label}, got ${JSON.stringify(outcome)}`;
    } catch (error) {
      return `undecodable CheckResponse: ${(error as Error).message}`;
    }
  }

  private finish(why: string | null, kind: string | null, latencyMs: number): void {
    this.total.completed++;
    this.win.completed++;
    if (why === null) {
      this.total.ok++;
      this.win.ok++;
      const us = Math.max(1, Math.round(latencyMs * 1000));
      this.totalLatency.record(us);
      this.winLatency.record(us);
      if (this.o.slowMs !== undefined && latencyMs > this.o.slowMs) {
        this.total.slow++;
        this.win.slow++;
      }
      return;
    }
    this.total.failed++;
    this.win.failed++;
    const k = kind ?? why;
    this.failureKinds.set(k, (this.failureKinds.get(k) ?? 0) + 1);
    if (this.failuresKept.length < KEPT_FAILURES) this.failuresKept.push({ atMs: Math.round(performance.now() - this.startedAt), why });
  }

  private open(): ClientHttp2Session {
    const session = connect(`http://127.0.0.1:${this.o.port}`);
    // A session that fails fails its streams, which count as failed calls; the next call reconnects.
    session.on('error', () => {});
    return session;
  }
}
