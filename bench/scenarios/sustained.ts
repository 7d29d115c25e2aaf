/**
 * Sustained load: the cached-token body against floor and sidecar-50 in alternating windows
 * long enough (BENCH_SUSTAINED_SECONDS, 30 s) that V8's full collections run inside them.
 *
 * The 6-second rows start each server from a collected heap and fresh connections: for most
 * of a window no full collection has run yet, and until one runs, scavenges promote little.
 * From the first one under load, every scavenge promotes ~2 MiB (docs/performance.md: a
 * chain of node:http2's discarded hash tables), for every server alike. These windows measure
 * that steady state. Informational: the targets are on the 6-second rows.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALLOWED_BY_RULE, ANSWERS_OK } from '../checks.js';
import { reportedCommand, runH2load, type H2loadResult } from '../h2load.js';
import { runLength, runLengthText, WARM_UP_SECONDS } from '../options.js';
import { metricValue, readMetrics, type Target } from '../processes.js';
import { checkRequestBody } from '../request.js';
import { inRoundOrder, median } from '../stats.js';
import type { TargetName } from '../targets.js';
import { minterFor } from '../../testkit/tokens.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

const WHAT = 'cached token, sustained';
const NAMES: readonly TargetName[] = ['floor', 'sidecar-50'];

/** The sidecar's garbage-collection totals, from its /metrics. */
interface GcTotals {
  readonly majors: number;
  readonly seconds: number;
}

async function gcTotals(t: Target): Promise<GcTotals | null> {
  if (t.adminUrl === null) return null;
  const samples = await readMetrics(t.adminUrl);
  return {
    majors: metricValue(samples, 'authz_nodejs_gc_duration_seconds_count', { kind: 'major' }),
    seconds: metricValue(samples, 'authz_nodejs_gc_duration_seconds_sum'),
  };
}

export async function sustained(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, targets, ledger } = ctx;
  const bytes = checkRequestBody({ token: minterFor().mint() });
  const file = join(ctx.workDir, 'sustained.bin');
  writeFileSync(file, bytes);
  const length = runLength(o, o.sustainedSeconds);
  const base = { bodyFile: file, clients: o.connections, streams: o.streams };

  const runs = new Map<TargetName, H2loadResult[]>(NAMES.map((name) => [name, []]));
  const sidecarGc: Array<{ majors: number; usPerCheck: number }> = [];
  const commands = new Set<string>();
  for (const name of NAMES) {
    const t = await targets.get(name);
    ctx.progress(`warm-up ${t.name} (${WHAT})`);
    await runH2load({ ...base, port: t.port, ...runLength(o, WARM_UP_SECONDS) });
  }
  for (let round = 1; round <= o.sustainedRounds; round++) {
    for (const name of inRoundOrder(NAMES, round)) {
      const t = await targets.get(name);
      const expect = t.adminUrl === null ? ANSWERS_OK : ALLOWED_BY_RULE;
      ctx.progress(`sustained round ${round}/${o.sustainedRounds}: ${t.name}`);
      await sleep(o.quietMs);
      await ledger.precheck(t, bytes, expect, WHAT);
      const before = await ledger.snapshot(t);
      const gcBefore = await gcTotals(t);
      const result = await runH2load({ ...base, port: t.port, ...length });
      const gcAfter = await gcTotals(t);
      await ledger.counted(t, before, expect, WHAT, result.done, o.connections * o.streams);
      runs.get(name)!.push(result);
      if (gcBefore !== null && gcAfter !== null && result.done > 0) {
        sidecarGc.push({ majors: gcAfter.majors - gcBefore.majors, usPerCheck: ((gcAfter.seconds - gcBefore.seconds) * 1e6) / result.done });
      }
      commands.add(reportedCommand(result, t.port, ctx.workDir));
    }
  }

  const floor = runs.get('floor')!;
  const sidecar = runs.get('sidecar-50')!;
  const ratio = median(sidecar.map((run, i) => run.rps / floor[i].rps));
  const majors = median(sidecarGc.map((g) => g.majors));
  const gcUs = median(sidecarGc.map((g) => g.usPerCheck));
  const window = runLengthText(o, o.sustainedSeconds);
  return {
    rows: {
      'sustained-rps': {
        text: `${fmt.ratio(ratio)} floor (${fmt.int(median(sidecar.map((r) => r.rps)))} vs ${fmt.int(median(floor.map((r) => r.rps)))} rps); sidecar: ${fmt.int(majors)} full collections per window, GC ${fmt.us(gcUs)} per Check`,
        met: null,
      },
    },
    raw: [
      `### Sustained throughput, cached token (req/s per ${window} window; h2load -c ${o.connections} -m ${o.streams})\n\n` +
        table(
          ['round', 'floor', 'sidecar-50', 'sidecar-50 full collections', 'sidecar-50 GC per Check'],
          floor.map((run, i) => [
            String(i + 1),
            fmt.int(run.rps),
            fmt.int(sidecar[i]?.rps ?? NaN),
            fmt.int(sidecarGc[i]?.majors ?? NaN),
            fmt.us(sidecarGc[i]?.usPerCheck ?? NaN),
          ]),
        ),
    ],
    commands: [...commands],
  };
}
