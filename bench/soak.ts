/**
 * `npm run soak`: the sidecar under steady load for SOAK_SECONDS (default 10 minutes) at half
 * the floor's rate, with a policy push and a key rotation every SOAK_INTERVAL_SECONDS over a
 * real NATS control plane. Every Check is judged; RSS, heap and event-loop delay are sampled.
 * Writes bench/soak-results.md (SOAK_OUT), prints the verdicts, exits 1 when a target is
 * missed. Knobs: bench/soak/options.ts; SOAK_SMOKE=1 is the fast variant run by `npm test`.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANSWERS_OK } from './checks.js';
import { startCpuMeter } from './cpu-meter.js';
import { PacedLoad, type LoadCounts } from './load/paced.js';
import { machine } from './machine.js';
import { startServer } from './processes.js';
import { startControlPlane } from './scenarios/control-plane.js';
import { ControlCycles, initialKey, trafficFor } from './soak/cycle.js';
import { parseSoakOptions, type SoakOptions } from './soak/options.js';
import { consoleSummary, judge, renderSoakReport, type Cycle, type SoakRun } from './soak/result.js';
import { OwnLoop, takeSample, type Sample } from './soak/samples.js';

const started = performance.now();
const progress = (line: string) => process.stderr.write(`[soak ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

/** The floor server under the same generator, unpaced: completed calls per second after a 1 s warm-up. */
async function measureFloor(o: SoakOptions): Promise<{ rps: number; seconds: number; completed: number }> {
  const floor = await startServer('floor');
  try {
    const load = new PacedLoad(
      { port: floor.port, connections: o.connections, rps: Infinity, maxInFlight: o.maxInFlight, timeoutMs: o.timeoutMs },
      { ...trafficFor(initialKey(), o.tokensPerKey), expect: ANSWERS_OK },
    );
    load.start();
    await sleep(1_000);
    load.window();
    await sleep(o.floorSeconds * 1000);
    const measured = load.window();
    const total = await load.stop();
    if (total.failed > 0) throw new Error(`floor: ${total.failed} calls failed, first: ${load.failures().first[0]?.why}`);
    return { rps: measured.completed / measured.seconds, seconds: o.floorSeconds, completed: measured.completed };
  } finally {
    await floor.stop();
  }
}

const NO_LOAD: LoadCounts = { seconds: 0, started: 0, completed: 0, ok: 0, failed: 0, slow: 0, behind: 0, latencyUs: { p50: NaN, p99: NaN, max: NaN } };

async function soak(o: SoakOptions): Promise<SoakRun> {
  const host = await machine();
  const cpuShare = startCpuMeter(host.cores);
  const date = new Date();

  let floor: SoakRun['floor'] = null;
  if (o.rps === null) {
    progress(`floor: ${o.floorSeconds} s unpaced`);
    floor = await measureFloor(o);
  }
  const plannedRps = o.rps ?? Math.max(1, Math.round(floor!.rps / 2));
  progress(`${floor ? `floor ${Math.round(floor.rps)} rps; ` : ''}soak at ${plannedRps} rps for ${o.seconds} s`);

  const plane = await startControlPlane(1);
  let measured: Omit<SoakRun, 'cpu' | 'wallSeconds'>;
  try {
    const member = plane.fleet.members[0];
    const pid = member.sidecar.child.pid!;
    const port = Number(member.sidecar.grpcAddress.split(':').pop());
    const cycles = new ControlCycles(plane.publisher, member.sidecar, member.client, o.tokensPerKey);
    const load = new PacedLoad(
      { port, connections: o.connections, rps: plannedRps, maxInFlight: o.maxInFlight, timeoutMs: o.timeoutMs, slowMs: o.envoyTimeoutMs },
      cycles.traffic(),
    );

    const own = new OwnLoop();
    // A sidecar that died leaves nothing to sample: say so, with its exit status and stderr.
    const sample = (t: number, counts: LoadCounts) =>
      takeSample(pid, member.sidecar.adminUrl, t, counts, own).catch((error: Error) => {
        const { exitCode, signalCode } = member.sidecar.child;
        throw new Error(
          `sample at ${t.toFixed(1)} s failed (${error.message}); sidecar ${exitCode === null && signalCode === null ? 'running' : `exited (${exitCode ?? signalCode})`}: ${member.sidecar.stderr().slice(-2000)}`,
        );
      });
    const samples: Sample[] = [await sample(0, NO_LOAD)];
    load.start();
    const t0 = performance.now();
    const until = (seconds: number) => sleep(Math.max(0, t0 + seconds * 1000 - performance.now()));
    const now = () => (performance.now() - t0) / 1000;

    const sampling = (async () => {
      for (let k = 1; k * o.sampleSeconds < o.seconds - 1e-9; k++) {
        await until(k * o.sampleSeconds);
        samples.push(await sample(now(), load.window()));
      }
    })();

    const done: Cycle[] = [];
    const cycling = (async () => {
      for (let n = 1; n * o.intervalSeconds + o.overlapSeconds < o.seconds; n++) {
        const at = n * o.intervalSeconds;
        await until(at);
        const steps = [];
        const errors: string[] = [];
        try {
          steps.push(await cycles.pushPolicy());
          steps.push(await cycles.addKey(`soak-${n}`, (traffic) => load.use(traffic)));
          await until(at + o.overlapSeconds);
          const retired = await cycles.retirePrevious();
          if (retired) steps.push(retired);
        } catch (error) {
          errors.push(`cycle ${n}: ${error instanceof Error ? error.message : String(error)}`);
        }
        done.push({ n, at, steps, errors });
        const last = samples[samples.length - 1];
        progress(
          `cycle ${n}: ${steps.map((s) => `${s.step} r${s.revision} ${s.problem === null ? `${s.applyMs} ms` : `✘ ${s.problem}`}`).join('; ')}${errors.length ? `; ${errors.join('; ')}` : ''}` +
            ` | RSS ${(last.rssBytes / 1024 / 1024).toFixed(1)} MiB, ${Math.round(last.load.completed / (last.load.seconds || 1))} rps, ${load.failures().byKind.size === 0 ? 'no failed Checks' : `failed: ${JSON.stringify(Object.fromEntries(load.failures().byKind))}`}`,
        );
      }
    })();

    await Promise.all([until(o.seconds), sampling, cycling]);
    const total = await load.stop();
    samples.push(await sample(now(), load.window()));
    own.stop();
    measured = {
      options: o,
      machine: host,
      date,
      floor,
      plannedRps,
      load: total,
      failures: load.failures(),
      samples,
      cycles: done,
      probes: { ...cycles.probes },
    };
  } finally {
    await plane.close();
  }
  // Only now: the meter counts the CPU time of children once they have exited.
  return { ...measured, cpu: cpuShare(), wallSeconds: (performance.now() - started) / 1000 };
}

const options = parseSoakOptions();
const run = await soak(options);
const figures = judge(run);
writeFileSync(options.out, renderSoakReport(run, figures));
if (options.json !== null) writeFileSync(options.json, `${JSON.stringify(figures.json, null, 2)}\n`);
process.stdout.write(`${consoleSummary(run, figures)}\n\nwritten to ${options.out}\n`);
if (figures.failed) process.exitCode = 1;
