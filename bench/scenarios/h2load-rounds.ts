/**
 * The h2load scenarios, measured in alternating rounds so that every comparison is made side
 * by side: per round, the allow body against floor, limit and the sidecar with each policy,
 * the no-token body against floor and sidecar, then the fixed-rate latency runs.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANSWERS_OK } from '../checks.js';
import { reportedCommand, runH2load, type H2loadOptions, type H2loadResult } from '../h2load.js';
import { runLength, WARM_UP_SECONDS, type Group } from '../options.js';
import type { Target } from '../processes.js';
import { inRoundOrder, median, spread } from '../stats.js';
import type { TargetName } from '../targets.js';
import { gatewayBody, standardBodies, type Body } from './bodies.js';
import { fmt, table, type Context, type Measured, type ScenarioOutput } from './context.js';

type Kind = 'throughput' | 'latency';

interface Series {
  readonly kind: Kind;
  readonly body: Body;
  readonly target: TargetName;
  readonly runs: H2loadResult[];
}

export async function h2loadRounds(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, targets, ledger } = ctx;
  const want = (g: Group) => o.only.has(g);
  const { allow, deny } = standardBodies(ctx);
  const gateway = want('gateway') ? gatewayBody(ctx) : undefined;

  const series: Series[] = [];
  const add = (kind: Kind, body: Body, ...names: TargetName[]) => names.forEach((target) => series.push({ kind, body, target, runs: [] }));
  if (want('allow')) add('throughput', allow, 'floor', 'limit');
  if (want('allow') || want('rules-10k') || want('cel') || want('shadow') || want('gateway')) add('throughput', allow, 'sidecar-50');
  if (want('rules-10k')) add('throughput', allow, 'sidecar-large');
  if (want('cel')) add('throughput', allow, 'sidecar-50-cel');
  if (want('shadow')) add('throughput', allow, 'sidecar-50-shadow');
  if (gateway !== undefined) add('throughput', gateway, 'gateway-50x50');
  if (want('deny')) add('throughput', deny, 'floor', 'sidecar-50');
  if (want('latency')) add('latency', allow, 'floor', 'sidecar-50');

  const expectation = (t: Target, body: Body) => (t.adminUrl === null ? ANSWERS_OK : body.sidecar);
  let runs = 0;
  const settings = (t: Target, kind: Kind, body: Body, warmUp = false): H2loadOptions => {
    const base = { port: t.port, bodyFile: body.file, clients: o.connections, streams: o.streams };
    if (warmUp) return { ...base, ...runLength(o, WARM_UP_SECONDS) };
    const length = runLength(o, kind === 'latency' ? o.latencySeconds : o.seconds);
    if (kind === 'throughput') return { ...base, ...length };
    return { ...base, ...length, rpsPerClient: o.latencyRps / o.connections, logFile: join(ctx.workDir, `latency-${t.name}-${++runs}.log`) };
  };

  // Warm every server with every body it will get (JIT, connection set-up), unmeasured.
  const warmed = new Set<string>();
  for (const s of series) {
    const t = await targets.get(s.target);
    if (warmed.has(`${t.name}/${s.body.what}`)) continue;
    warmed.add(`${t.name}/${s.body.what}`);
    ctx.progress(`warm-up ${t.name} (${s.body.what})`);
    await ledger.precheck(t, s.body.bytes, expectation(t, s.body), s.body.what);
    await runH2load(settings(t, 'throughput', s.body, true));
  }

  const commands = new Set<string>();
  for (let round = 1; round <= o.rounds; round++) {
    const inRound = series.filter((s) => s.kind === 'throughput' || round <= o.latencyRounds);
    for (const s of inRoundOrder(inRound, round)) {
      const t = await targets.get(s.target);
      const expect = expectation(t, s.body);
      ctx.progress(`round ${round}/${o.rounds}: ${s.kind} ${t.name} (${s.body.what})`);
      await sleep(o.quietMs);
      await ledger.precheck(t, s.body.bytes, expect, s.body.what);
      const before = await ledger.snapshot(t);
      const result = await runH2load(settings(t, s.kind, s.body));
      await ledger.counted(t, before, expect, s.body.what, result.done, o.connections * o.streams);
      s.runs.push(result);
      commands.add(reportedCommand(result, t.port, ctx.workDir));
    }
  }
  return { rows: rows(ctx, series), raw: raw(ctx, series, [allow, deny, ...(gateway ? [gateway] : [])]), commands: [...commands] };
}

const find = (series: Series[], kind: Kind, what: string, target: TargetName) =>
  series.find((s) => s.kind === kind && s.body.what === what && s.target === target);

/** Median over rounds of a per-round ratio. */
function medianRatio(a: Series | undefined, b: Series | undefined, value: (r: H2loadResult) => number): number {
  if (!a || !b) return NaN;
  return median(a.runs.map((run, i) => value(run) / value(b.runs[i])));
}

const rps = (r: H2loadResult) => r.rps;
const pooled = (s: Series) => spread(Float64Array.from(s.runs.flatMap((r) => Array.from(r.latencySamplesUs ?? []))));
const p99 = (r: H2loadResult) => r.latencyUs?.p99 ?? NaN;
const medianOf = (s: Series | undefined, value: (r: H2loadResult) => number) => (s ? median(s.runs.map(value)) : NaN);

function rows(ctx: Context, series: Series[]): ScenarioOutput['rows'] {
  const want = (g: Group) => ctx.options.only.has(g);
  const out: Record<string, Measured> = {};
  const allowOf = (t: TargetName) => find(series, 'throughput', 'cached token', t);
  const sidecar = allowOf('sidecar-50');
  if (want('allow')) {
    const vsFloor = medianRatio(sidecar, allowOf('floor'), rps);
    const vsLimit = medianRatio(sidecar, allowOf('limit'), rps);
    out['allow-rps'] = {
      text: `${fmt.ratio(vsFloor)} floor, ${fmt.ratio(vsLimit)} limit (${fmt.int(medianOf(sidecar, rps))} vs ${fmt.int(medianOf(allowOf('floor'), rps))} vs ${fmt.int(medianOf(allowOf('limit'), rps))} rps)`,
      met: vsFloor >= 1.0 && vsLimit >= 0.75,
    };
  }
  if (want('latency')) {
    const s = find(series, 'latency', 'cached token', 'sidecar-50');
    const f = find(series, 'latency', 'cached token', 'floor');
    // Judged in each run, not by a median: a tail that is worse in some runs is worse.
    const ratios = s && f ? s.runs.map((run, i) => p99(run) / p99(f.runs[i])) : [];
    const worst = ratios.length > 0 ? Math.max(...ratios) : NaN;
    const pooledRatio = s && f ? pooled(s).p99 / pooled(f).p99 : NaN;
    out['allow-p99'] = {
      text:
        `worst run ${fmt.ratio(worst)} floor p99 (runs: ${ratios.map((r) => r.toFixed(2)).join(' / ')}; ` +
        `median p99 ${fmt.us(medianOf(s, p99))} vs ${fmt.us(medianOf(f, p99))}; all runs pooled: ${fmt.ratio(pooledRatio)})`,
      met: ratios.length > 0 && worst <= 1.2,
    };
  }
  if (want('deny')) {
    const s = find(series, 'throughput', 'no token', 'sidecar-50');
    const f = find(series, 'throughput', 'no token', 'floor');
    const ratio = medianRatio(s, f, rps);
    out['deny-rps'] = { text: `${fmt.ratio(ratio)} floor (${fmt.int(medianOf(s, rps))} vs ${fmt.int(medianOf(f, rps))} rps)`, met: ratio >= 1.0 };
  }
  if (want('rules-10k')) {
    const large = allowOf('sidecar-large');
    const ratio = medianRatio(large, sidecar, rps);
    out['large-rps'] = { text: `${fmt.ratio(ratio)} 50-rule (${fmt.int(medianOf(large, rps))} vs ${fmt.int(medianOf(sidecar, rps))} rps)`, met: ratio >= 0.9 };
  }
  if (want('cel')) {
    const cel = allowOf('sidecar-50-cel');
    const ratio = medianRatio(cel, sidecar, rps);
    out['cel-rps'] = { text: `${fmt.ratio(ratio)} without CEL (${fmt.int(medianOf(cel, rps))} vs ${fmt.int(medianOf(sidecar, rps))} rps)`, met: ratio >= 0.9 };
  }
  if (want('shadow')) {
    const shadow = allowOf('sidecar-50-shadow');
    const ratio = medianRatio(shadow, sidecar, rps);
    out['shadow-rps'] = {
      text: `${fmt.ratio(ratio)} without (${fmt.int(medianOf(shadow, rps))} vs ${fmt.int(medianOf(sidecar, rps))} rps)`,
      met: ratio >= 0.9,
    };
  }
  if (want('gateway')) {
    const routed = series.find((x) => x.target === 'gateway-50x50');
    const ratio = medianRatio(routed, sidecar, rps);
    out['gateway-rps'] = {
      text: `${fmt.ratio(ratio)} single-service (${fmt.int(medianOf(routed, rps))} vs ${fmt.int(medianOf(sidecar, rps))} rps)`,
      met: ratio >= 0.95,
    };
  }
  return out;
}

function raw(ctx: Context, series: Series[], bodies: Body[]): string[] {
  const blocks: string[] = [];
  const label = (s: Series) => ctx.targets.label(s.target);
  const rounds = Array.from({ length: ctx.options.rounds }, (_, i) => i);
  for (const what of bodies.map((b) => b.what)) {
    const group = series.filter((s) => s.kind === 'throughput' && s.body.what === what);
    if (group.length === 0) continue;
    blocks.push(
      `### Throughput, ${what} (req/s per round; h2load -c ${ctx.options.connections} -m ${ctx.options.streams})\n\n` +
        table(
          ['round', ...group.map(label)],
          rounds.map((i) => [String(i + 1), ...group.map((s) => fmt.int(s.runs[i]?.rps ?? NaN))]),
        ),
    );
  }
  const latency = series.filter((s) => s.kind === 'latency');
  if (latency.length > 0) {
    blocks.push(
      `### Latency at ${ctx.options.latencyRps.toLocaleString('en')} req/s, cached token (p50 / p99 / max per round, from h2load --log-file)\n\n` +
        table(
          ['round', ...latency.map(label)],
          rounds
            .slice(0, ctx.options.latencyRounds)
            .map((i) => [
              String(i + 1),
              ...latency.map((s) => {
                const l = s.runs[i]?.latencyUs;
                return l ? `${fmt.us(l.p50)} / ${fmt.us(l.p99)} / ${fmt.us(l.max)} (${fmt.int(l.count)} requests)` : 'n/a';
              }),
            ])
            .concat([
              [
                'all rounds pooled',
                ...latency.map((s) => {
                  const l = pooled(s);
                  return `${fmt.us(l.p50)} / ${fmt.us(l.p99)} / ${fmt.us(l.max)} (${fmt.int(l.count)} requests)`;
                }),
              ],
            ]),
        ) +
        `\n\nh2load's --rps fires each client's share every 10 ms (${ctx.options.latencyRps / ctx.options.connections / 100} requests per client, ` +
        `${ctx.options.latencyRps / 100} in all, per tick), so these latencies include draining such a burst, for every server alike. ` +
        'The target holds run by run; the pooled row is for reference.',
    );
  }
  blocks.push(
    `Request bodies (gRPC-framed CheckRequest): ${bodies.map((b) => `\`${b.file.replace(ctx.workDir, '$WORK')}\` ${b.bytes.length} bytes (${b.what})`).join(', ')}; the token is an ES256 JWT of ${bodies[0].tokenBytes} bytes.`,
  );
  return blocks;
}
