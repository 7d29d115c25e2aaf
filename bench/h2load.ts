/**
 * Running h2load and reading what it reports: the summary (requests, req/s) from stdout and
 * per-request latencies from --log-file (start µs, HTTP status, µs to end of response).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { CHECK_PATH } from './request.js';
import { spread, type Spread } from './stats.js';

const run = promisify(execFile);

export const H2LOAD = process.env.H2LOAD ?? 'h2load';

export interface H2loadOptions {
  readonly port: number;
  readonly bodyFile: string;
  readonly clients: number;
  readonly streams: number;
  /** Timed run (-D); else `requests` (-n). */
  readonly seconds?: number;
  readonly requests?: number;
  /** --rps: per client, so the total rate is this × clients. */
  readonly rpsPerClient?: number;
  readonly logFile?: string;
  /**
   * HTTP/1.1 instead of gRPC: h2load --h1, a GET of `path` with these `name: value` headers and
   * no body (`bodyFile` is not sent). Each client keeps one request in flight (`streams` 1).
   */
  readonly h1?: { readonly path: string; readonly headers: readonly string[] };
}

export interface H2loadResult {
  readonly command: string;
  readonly seconds: number;
  readonly rps: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  /** From --log-file, in µs, when one was written. */
  readonly latencyUs: Spread | null;
  /** Every 2xx latency from --log-file, µs (to pool rounds). */
  readonly latencySamplesUs: Float64Array | null;
}

export function h2loadArgs(o: H2loadOptions): string[] {
  const args = ['-c', String(o.clients), '-m', String(o.streams)];
  if (o.seconds !== undefined) args.push('-D', String(o.seconds));
  else args.push('-n', String(o.requests ?? 1000));
  if (o.rpsPerClient !== undefined) args.push('--rps', String(o.rpsPerClient));
  if (o.logFile !== undefined) args.push('--log-file', o.logFile);
  if (o.h1 !== undefined) {
    args.push('--h1', ...o.h1.headers.flatMap((header) => ['-H', header]), `http://127.0.0.1:${o.port}${o.h1.path}`);
    return args;
  }
  args.push('-d', o.bodyFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${o.port}${CHECK_PATH}`);
  return args;
}

/** The command line as a shell would take it (for the report). */
export function commandLine(args: readonly string[]): string {
  return ['h2load', ...args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))].join(' ');
}

/** A run's command line for the report: port, work directory and latency-log name made generic. */
export function reportedCommand(result: H2loadResult, port: number, workDir: string): string {
  return result.command
    .replace(`127.0.0.1:${port}`, '127.0.0.1:$PORT')
    .replaceAll(workDir, '$WORK')
    .replace(/latency-[\w-]+\.log/, 'latency.log');
}

export async function runH2load(o: H2loadOptions): Promise<H2loadResult> {
  const args = h2loadArgs(o);
  const { stdout } = await run(H2LOAD, args, { maxBuffer: 16 * 1024 * 1024 });
  const summary = parseSummary(stdout);
  const samples = o.logFile === undefined ? null : readLatencyLog(o.logFile);
  const result = { command: commandLine(args), ...summary, latencyUs: samples && spread(samples), latencySamplesUs: samples };
  if (result.done === 0 || result.failed > 0 || result.errored > 0 || result.timeout > 0) {
    throw new Error(`h2load: ${result.done} done, ${result.failed} failed, ${result.errored} errored, ${result.timeout} timeout: ${result.command}\n${stdout}`);
  }
  return result;
}

/** Parses "finished in 10.00s, 20266.67 req/s, …" and "requests: N total, N started, N done, N succeeded, …". */
export function parseSummary(stdout: string): Omit<H2loadResult, 'command' | 'latencyUs' | 'latencySamplesUs'> {
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(stdout);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  if (!finished || !requests) throw new Error(`cannot parse h2load output:\n${stdout}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  return {
    seconds,
    rps: Number(finished[3]),
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    timeout: Number(requests[7]),
  };
}

/** Latency (µs) of every 2xx row of an h2load --log-file. */
export function readLatencyLog(path: string): Float64Array {
  const samples: number[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [, status, micros] = line.split('\t');
    if (status !== undefined && status.startsWith('2')) samples.push(Number(micros));
  }
  return Float64Array.from(samples);
}

/** "nghttp2/1.52.0"; a clear error when h2load is not installed. */
export async function h2loadVersion(): Promise<string> {
  try {
    const { stdout } = await run(H2LOAD, ['--version']);
    return stdout.trim().replace(/^h2load\s+/, '');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(`h2load not found (${H2LOAD}): install it with "apt-get install -y nghttp2-client" (or set H2LOAD)`, { cause: error });
    throw error;
  }
}
