/**
 * HTTP mode against a bare node:http server (http-floor), in alternating rounds like the gRPC
 * rows: h2load --h1 sends the auth request nginx's auth_request would send for the bench's
 * usual request (deploy/nginx/nginx.conf: X-Original-URI, X-Original-Method, Host,
 * X-Forwarded-Proto, X-Real-IP, plus the client's headers with the same cached ES256 token),
 * one request in flight per connection, as many connections as the gRPC rows have streams.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ALLOWED_BY_RULE, ANSWERS_OK } from '../checks.js';
import { reportedCommand, runH2load, type H2loadOptions, type H2loadResult } from '../h2load.js';
import { runLength, WARM_UP_SECONDS } from '../options.js';
import type { Target } from '../processes.js';
import { envoyCheckRequest } from '../request.js';
import { inRoundOrder, median } from '../stats.js';
import type { TargetName } from '../targets.js';
import { minterFor } from '../../testkit/tokens.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

const ENDPOINT = '/nginx';

/** The client's headers of the bench request (bench/request.ts), as nginx passes them to the auth request. */
function nginxHeaders(token: string): Record<string, string> {
  const http = (envoyCheckRequest({ token }) as { attributes: { request: { http: { method: string; path: string; headers: Record<string, string> } } } })
    .attributes.request.http;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(http.headers)) if (!name.startsWith(':')) headers[name] = value;
  return { ...headers, host: http.headers[':authority'], 'x-original-uri': http.path, 'x-original-method': http.method, 'x-real-ip': '10.12.3.45' };
}

interface Series {
  readonly target: TargetName;
  readonly runs: H2loadResult[];
}

export async function httpMode(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, targets, ledger } = ctx;
  const token = minterFor().mint();
  const headers = nginxHeaders(token);
  // h2load writes its own Host line from :authority; a `host:` header would be a second one
  // (which the sidecar refuses as malformed_request).
  const headerLines = Object.entries(headers).map(([name, value]) => `${name === 'host' ? ':authority' : name}: ${value}`);
  const connections = o.connections * o.streams;
  const portOf = (t: Target) => t.httpPort ?? t.port;
  const settings = (t: Target, seconds: number): H2loadOptions => ({
    port: portOf(t),
    bodyFile: '',
    clients: connections,
    streams: 1,
    h1: { path: ENDPOINT, headers: headerLines },
    ...runLength(o, seconds),
  });
  const expectation = (t: Target) => (t.adminUrl === null ? ANSWERS_OK : ALLOWED_BY_RULE);
  const what = 'nginx auth request, cached token';

  const series: Series[] = (['http-floor', 'sidecar-50-http'] as const).map((target) => ({ target, runs: [] }));
  for (const s of series) {
    const t = await targets.get(s.target);
    ctx.progress(`warm-up ${t.name} (${what})`);
    await ledger.precheckHttp(t, portOf(t), ENDPOINT, headers, expectation(t), what);
    await runH2load(settings(t, WARM_UP_SECONDS));
  }
  const commands = new Set<string>();
  for (let round = 1; round <= o.rounds; round++) {
    for (const s of inRoundOrder(series, round)) {
      const t = await targets.get(s.target);
      ctx.progress(`round ${round}/${o.rounds}: http ${t.name}`);
      await sleep(o.quietMs);
      await ledger.precheckHttp(t, portOf(t), ENDPOINT, headers, expectation(t), what);
      const before = await ledger.snapshot(t);
      const result = await runH2load(settings(t, o.seconds));
      await ledger.counted(t, before, expectation(t), what, result.done, connections);
      s.runs.push(result);
      commands.add(reportedCommand(result, portOf(t), ctx.workDir).replace(token, '$TOKEN'));
    }
  }

  const [floor, sidecar] = series;
  const ratio = median(sidecar.runs.map((run, i) => run.rps / floor.runs[i].rps));
  const medianRps = (s: Series) => median(s.runs.map((r) => r.rps));
  const rounds = Array.from({ length: o.rounds }, (_, i) => i);
  return {
    rows: {
      'http-rps': {
        text: `${fmt.ratio(ratio)} http-floor (${fmt.int(medianRps(sidecar))} vs ${fmt.int(medianRps(floor))} rps)`,
        met: ratio >= 0.9,
      },
    },
    raw: [
      `### HTTP mode throughput, ${what} (req/s per round; h2load --h1 -c ${connections} -m 1, GET ${ENDPOINT})\n\n` +
        table(
          ['round', ...series.map((s) => targets.label(s.target))],
          rounds.map((i) => [String(i + 1), ...series.map((s) => fmt.int(s.runs[i]?.rps ?? NaN))]),
        ),
    ],
    commands: [...commands],
  };
}
