/**
 * What a Check costs a pod at production rates, not at saturation: each server's own CPU time
 * (all threads, bench/proc-cpu.ts) over a fixed-rate h2load run, divided by the Checks it
 * answered, in alternating rounds. Compared with the floor, and with a floor that sends the
 * sidecar's own answer bytes (bench/servers/same-bytes.ts), so a larger answer and the work of
 * deciding are told apart. Then the CPU each uses while idle.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANSWERS_OK } from '../checks.js';
import { unaryCall } from '../grpc-call.js';
import { runH2load } from '../h2load.js';
import { runLength, WARM_UP_SECONDS } from '../options.js';
import { processCpuNs } from '../proc-cpu.js';
import { startServer, type Target } from '../processes.js';
import { inRoundOrder, median } from '../stats.js';
import { standardBodies, type Body } from './bodies.js';
import { fmt, table, type Context, type Measured, type ScenarioOutput } from './context.js';

/** Total request rates of the runs, requests per second. */
export const COST_RATES = [1_000, 4_000] as const;
/** The rate the targets are judged at. */
const JUDGED_RATE = 4_000;
/**
 * Rounds: CPU time per Check, unlike requests per second, does not depend on how the two cores
 * are shared with h2load at that moment, and twelve series per round make nine rounds long.
 */
const MAX_ROUNDS = 5;

type Role = 'sidecar' | 'floor' | 'same-bytes';

interface Series {
  readonly body: Body;
  readonly rate: number;
  readonly role: Role;
  readonly target: Target;
  /** CPU µs per answered Check, per round. */
  readonly perCheckUs: number[];
}

export async function cost(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, ledger } = ctx;
  const bodies = standardBodies(ctx);
  const sidecar = await ctx.targets.get('sidecar-50');
  const floor = await ctx.targets.get('floor');
  const sameBytes: Target[] = [];
  try {
    const series: Series[] = [];
    for (const body of [bodies.allow, bodies.deny]) {
      const same = await sameBytesServer(ctx, sidecar, body);
      sameBytes.push(same);
      for (const rate of COST_RATES) {
        for (const [role, target] of [
          ['sidecar', sidecar],
          ['floor', floor],
          ['same-bytes', same],
        ] as const) {
          series.push({ body, rate, role, target, perCheckUs: [] });
        }
      }
    }
    const expectation = (s: Series) => (s.role === 'floor' ? ANSWERS_OK : s.body.sidecar);
    for (const s of series.filter((x) => x.rate === COST_RATES[0])) {
      ctx.progress(`warm-up ${s.target.name} (${s.body.what})`);
      await ledger.precheck(s.target, s.body.bytes, expectation(s), s.body.what);
      await runH2load({ port: s.target.port, bodyFile: s.body.file, clients: o.connections, streams: o.streams, ...runLength(o, WARM_UP_SECONDS) });
    }
    const rounds = Math.min(o.rounds, MAX_ROUNDS);
    for (let round = 1; round <= rounds; round++) {
      for (const s of inRoundOrder(series, round)) {
        ctx.progress(`round ${round}/${rounds}: CPU per Check at ${fmt.int(s.rate)} rps, ${s.target.name} (${s.body.what})`);
        await sleep(o.quietMs);
        const expect = expectation(s);
        await ledger.precheck(s.target, s.body.bytes, expect, s.body.what);
        const before = await ledger.snapshot(s.target);
        const cpuBefore = processCpuNs(s.target.pid);
        const result = await runH2load({
          port: s.target.port,
          bodyFile: s.body.file,
          clients: o.connections,
          streams: o.streams,
          rpsPerClient: s.rate / o.connections,
          ...runLength(o, o.seconds),
        });
        const cpuNs = processCpuNs(s.target.pid) - cpuBefore;
        await ledger.counted(s.target, before, expect, s.body.what, result.done, o.connections * o.streams);
        s.perCheckUs.push(cpuNs / 1000 / result.done);
      }
    }
    const idle = await idleCpu(ctx, [sidecar, floor]);
    return { rows: rows(series, idle), raw: [raw(ctx, series, idle)], commands: [] };
  } finally {
    for (const target of sameBytes) await target.stop();
  }
}

/** A same-bytes floor answering with the sidecar's own answer to `body`. */
async function sameBytesServer(ctx: Context, sidecar: Target, body: Body): Promise<Target> {
  const answer = await unaryCall(sidecar.port, body.bytes);
  const file = join(ctx.workDir, `answer-${body.what.replace(/\W+/g, '-')}.bin`);
  writeFileSync(file, answer.message);
  ctx.progress(`same-bytes floor for ${body.what}: the sidecar's answer is ${answer.message.length} bytes`);
  return startServer('same-bytes', [file]);
}

interface Idle {
  readonly name: string;
  /** Percent of one core. */
  readonly percent: number;
  readonly seconds: number;
}

/**
 * Each server's CPU over a quiet window, once the sidecar's idle collection after the last
 * burst is over (it runs 1–2 s after activity stops; the memory-returning one a minute later
 * would fall outside a short window, which is what a steadily used pod sees).
 */
async function idleCpu(ctx: Context, targets: readonly Target[]): Promise<Idle[]> {
  const seconds = ctx.options.smoke ? 1 : 10;
  ctx.progress(`idle CPU: ${seconds} s of quiet after a 3 s pause`);
  await sleep(ctx.options.smoke ? 0 : 3_000);
  const before = targets.map((t) => processCpuNs(t.pid));
  const started = performance.now();
  await sleep(seconds * 1000);
  const wallNs = (performance.now() - started) * 1e6;
  return targets.map((t, i) => ({ name: t.name, percent: ((processCpuNs(t.pid) - before[i]) / wallNs) * 100, seconds }));
}

const find = (series: Series[], what: string, rate: number, role: Role) => series.find((s) => s.body.what === what && s.rate === rate && s.role === role)!;

/** Median over rounds of the per-round ratio a / b. */
const ratio = (a: Series, b: Series) => median(a.perCheckUs.map((x, i) => x / b.perCheckUs[i]));

function rows(series: Series[], idle: Idle[]): ScenarioOutput['rows'] {
  const at = (what: string, rate: number) => ({
    sidecar: find(series, what, rate, 'sidecar'),
    floor: find(series, what, rate, 'floor'),
    same: find(series, what, rate, 'same-bytes'),
  });
  const text = (what: string, rate: number) => {
    const { sidecar, floor, same } = at(what, rate);
    return `${fmt.ratio(ratio(sidecar, floor))} floor, ${fmt.ratio(ratio(sidecar, same))} same-bytes (${fmt.us(median(sidecar.perCheckUs))} vs ${fmt.us(median(floor.perCheckUs))} vs ${fmt.us(median(same.perCheckUs))} per Check)`;
  };
  const allow = at('cached token', JUDGED_RATE);
  const deny = at('no token', JUDGED_RATE);
  const sidecarIdle = idle[0];
  const out: Record<string, Measured> = {
    'cost-allow': { text: text('cached token', JUDGED_RATE), met: ratio(allow.sidecar, allow.floor) <= 1.1 && ratio(allow.sidecar, allow.same) <= 1.05 },
    'cost-allow-low': { text: text('cached token', COST_RATES[0]), met: null },
    'cost-deny': { text: text('no token', JUDGED_RATE), met: ratio(deny.sidecar, deny.floor) <= 1.05 },
    'idle-cpu': {
      text: `${sidecarIdle.percent.toFixed(2)} % of a core (floor ${idle[1].percent.toFixed(2)} %), over ${sidecarIdle.seconds} s`,
      met: sidecarIdle.percent <= 0.2,
    },
  };
  return out;
}

function raw(ctx: Context, series: Series[], idle: Idle[]): string {
  return (
    `### CPU per Check at fixed rates (µs, all threads of the server; h2load -c ${ctx.options.connections} -m ${ctx.options.streams} --rps)\n\n` +
    table(
      ['server', 'request', 'rate', 'median', 'per round'],
      series.map((s) => [
        s.target.name,
        s.body.what,
        `${fmt.int(s.rate)} rps`,
        fmt.us(median(s.perCheckUs)),
        s.perCheckUs.map((x) => x.toFixed(1)).join(' / '),
      ]),
    ) +
    `\n\nIdle: ${idle.map((x) => `${x.name} ${x.percent.toFixed(3)} % of a core`).join(', ')} over ${idle[0]?.seconds ?? 0} s. ` +
    "The same-bytes floor decodes like the floor and answers with a copy of the sidecar's own answer to the same request (bench/servers/same-bytes.ts)."
  );
}
