/**
 * Every token new: the rotating client sends each request with a token the sidecar has never
 * seen, so each Check verifies an ES256 signature. Compared, round by round, with
 * floor-verify (the floor plus one node:crypto verify) under the same client and bodies.
 * Tokens are minted and bodies built before anything is timed. Each server's CPU time per Check
 * (all threads) is read around the same runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ALLOWED_BY_RULE, ANSWERS_OK } from '../checks.js';
import { runRotating, type RotatingResult } from '../load/rotating.js';
import type { Target } from '../processes.js';
import { checkRequestBody } from '../request.js';
import { processCpuNs } from '../proc-cpu.js';
import { inRoundOrder, median } from '../stats.js';
import { minterFor } from '../../testkit/tokens.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

export async function freshTokens(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, ledger } = ctx;
  const floorVerify = await ctx.targets.get('floor-verify');
  const sidecar = await ctx.targets.get('sidecar-50');
  const minter = minterFor();
  const warmUp = o.smoke ? 100 : 3_000;
  const perRound = o.freshRequests;
  ctx.progress(`minting ${(warmUp + perRound * o.rounds + 2 * (o.rounds + 1)).toLocaleString('en')} tokens`);
  const fresh = (count: number) => Array.from({ length: count }, () => checkRequestBody({ token: minter.mint() }));
  // One batch per round: the floor-verify run and the sidecar run of a round send the same bodies.
  const warmBodies = fresh(warmUp);
  const rounds = Array.from({ length: o.rounds }, () => fresh(perRound));
  const spare = () => checkRequestBody({ token: minter.mint() });

  /** Server CPU µs per Check (all threads) of each measured run, by server. */
  const perCheckUs = new Map<Target, number[]>([
    [floorVerify, []],
    [sidecar, []],
  ]);
  const run = async (t: Target, bodies: Buffer[], measured: boolean): Promise<RotatingResult> => {
    const expect = t.adminUrl === null ? ANSWERS_OK : ALLOWED_BY_RULE;
    if (measured) await sleep(o.quietMs);
    await ledger.precheck(t, spare(), expect, 'fresh tokens');
    const before = await ledger.snapshot(t);
    const cpuBefore = processCpuNs(t.pid);
    const result = await runRotating({ port: t.port, connections: o.connections, streams: o.streams, requests: bodies.length, body: (i) => bodies[i] });
    const cpuNs = processCpuNs(t.pid) - cpuBefore;
    if (result.failed > 0) throw new Error(`${t.name} (fresh tokens): ${result.failed} of ${result.requests} calls failed, first: ${result.firstFailure}`);
    if (measured) {
      await ledger.counted(t, before, expect, 'fresh tokens', result.succeeded, 0, true);
      perCheckUs.get(t)!.push(cpuNs / 1000 / result.succeeded);
    }
    return result;
  };

  ctx.progress('warm-up floor-verify and sidecar-50 (fresh tokens)');
  await run(floorVerify, warmBodies, false);
  await run(sidecar, warmBodies, false);
  const floorRuns: RotatingResult[] = [];
  const sidecarRuns: RotatingResult[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const order = inRoundOrder([floorVerify, sidecar], r + 1);
    ctx.progress(`round ${r + 1}/${o.rounds}: fresh tokens, ${order.map((t) => t.name).join(' then ')} (${perRound.toLocaleString('en')} requests each)`);
    for (const t of order) (t === sidecar ? sidecarRuns : floorRuns).push(await run(t, rounds[r], true));
  }

  const ratio = median(sidecarRuns.map((s, i) => s.rps / floorRuns[i].rps));
  const sidecarCpu = perCheckUs.get(sidecar)!;
  const floorCpu = perCheckUs.get(floorVerify)!;
  const cpuRatio = median(sidecarCpu.map((x, i) => x / floorCpu[i]));
  const medianRps = (runs: RotatingResult[]) => median(runs.map((r) => r.rps));
  const cell = (r: RotatingResult) => `${fmt.int(r.rps)} rps, p50 ${fmt.us(r.latencyUs.p50)}, p99 ${fmt.us(r.latencyUs.p99)}`;
  return {
    rows: {
      'fresh-rps': {
        text: `${fmt.ratio(ratio)} floor-verify (${fmt.int(medianRps(sidecarRuns))} vs ${fmt.int(medianRps(floorRuns))} rps)`,
        met: ratio >= 0.8,
      },
      'cost-fresh': {
        text: `${fmt.ratio(cpuRatio)} floor-verify (${fmt.us(median(sidecarCpu))} vs ${fmt.us(median(floorCpu))} per Check)`,
        met: cpuRatio <= 1.0,
      },
    },
    raw: [
      `### Every token new (bench/load/rotating.ts: ${o.connections} connections × ${o.streams} streams, ${perRound.toLocaleString('en')} distinct tokens per run)\n\n` +
        table(
          ['round', 'floor-verify', 'sidecar-50'],
          floorRuns.map((f, i) => [
            String(i + 1),
            `${cell(f)}, ${fmt.us(floorCpu[i])} CPU per Check`,
            `${cell(sidecarRuns[i])}, ${fmt.us(sidecarCpu[i])} CPU per Check`,
          ]),
        ),
    ],
    commands: [
      `# every token new: bench/load/rotating.ts in the harness process, ${o.connections} connections × ${o.streams} streams, ${perRound} requests per run, each with a distinct token`,
    ],
  };
}
