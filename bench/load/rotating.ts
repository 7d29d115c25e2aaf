/**
 * A small HTTP/2 gRPC load generator for what h2load cannot do: a different body on every
 * request. It keeps `connections` × `streams` calls in flight, sending body(0), body(1), …
 * body(requests - 1) once each, so with distinct tokens in the bodies no token repeats.
 * Counts a call as failed unless it ends with HTTP 200 and grpc-status 0.
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { GRPC_REQUEST_HEADERS } from '../grpc-call.js';
import { spread, type Spread } from '../stats.js';

export interface RotatingOptions {
  readonly port: number;
  readonly connections: number;
  readonly streams: number;
  readonly requests: number;
  /** The i-th request's gRPC body; pre-built for timed runs. */
  readonly body: (i: number) => Buffer;
}

export interface RotatingResult {
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly firstFailure: string | null;
  readonly seconds: number;
  readonly rps: number;
  readonly latencyUs: Spread;
}

export async function runRotating(o: RotatingOptions): Promise<RotatingResult> {
  if (!Number.isSafeInteger(o.requests) || o.requests < 1) throw new TypeError('runRotating: requests must be a positive integer');
  const sessions = await Promise.all(Array.from({ length: o.connections }, () => openSession(o.port)));
  const latencies = new Float64Array(o.requests);
  let next = 0;
  let finished = 0;
  let failed = 0;
  let firstFailure: string | null = null;
  const started = performance.now();

  await new Promise<void>((resolve) => {
    const fail = (why: string) => {
      failed++;
      firstFailure ??= why;
    };
    const launch = (session: ClientHttp2Session) => {
      if (next >= o.requests) return;
      const i = next++;
      const sent = performance.now();
      let httpStatus = 0;
      let grpcStatus: unknown;
      let streamError: string | null = null;
      const stream = session.request(GRPC_REQUEST_HEADERS);
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status']);
        grpcStatus = headers['grpc-status'] ?? grpcStatus;
      });
      stream.on('trailers', (trailers) => (grpcStatus = trailers['grpc-status']));
      stream.on('data', () => {});
      stream.on('error', (error) => (streamError = error.message));
      stream.on('close', () => {
        latencies[i] = (performance.now() - sent) * 1000;
        if (streamError !== null) fail(streamError);
        else if (httpStatus !== 200 || grpcStatus !== '0') fail(`HTTP ${httpStatus}, grpc-status ${String(grpcStatus)}`);
        if (++finished === o.requests) resolve();
        else launch(session);
      });
      stream.end(o.body(i));
    };
    for (const session of sessions) for (let s = 0; s < o.streams; s++) launch(session);
  });

  const seconds = (performance.now() - started) / 1000;
  await Promise.all(sessions.map((session) => new Promise<void>((resolve) => session.close(() => resolve()))));
  return { requests: o.requests, succeeded: o.requests - failed, failed, firstFailure, seconds, rps: o.requests / seconds, latencyUs: spread(latencies) };
}

function openSession(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.once('connect', () => {
      session.off('error', reject);
      // A session that fails later fails its streams, which count as failed calls.
      session.on('error', () => {});
      resolve(session);
    });
    session.once('error', reject);
  });
}
