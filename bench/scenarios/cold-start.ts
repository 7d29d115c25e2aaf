/**
 * Cold start: from spawning `node dist/authz-sidecar.mjs` (the bundled sidecar the image
 * runs) to the first 200 from /readyz, polled every 5 ms. Once from local files (the 50-rule
 * policy, the example keys), once with a NATS config whose server is down but whose cacheDir
 * holds signed documents from an earlier run.
 */
import { join } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { policyText } from '../policies/generate.js';
import { sidecarDir, startSidecarProcess } from '../processes.js';
import { median } from '../stats.js';
import { startControlPlane } from './control-plane.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

const POLL_MS = 5;

export async function coldStart(ctx: Context): Promise<ScenarioOutput> {
  const { options: o } = ctx;
  const localDir = sidecarDir({ policy: policyText({ rules: 50 }) });
  try {
    ctx.progress('cold start: preparing a last-good cache (nats-server up, one sidecar)');
    const plane = await startControlPlane(1, { keepDir: true });
    const { configPath } = plane.fleet.members[0];
    await plane.close();
    const cacheDir = join(configPath, '..', 'cache');
    if (!existsSync(cacheDir)) throw new Error(`no last-good cache in ${cacheDir}`);

    const measure = async (name: string, config: string) => {
      const times: number[] = [];
      for (let i = 0; i < o.coldStarts; i++) {
        const sidecar = await startSidecarProcess(name, config, POLL_MS);
        times.push(sidecar.readyMs);
        await sidecar.stop();
      }
      return times;
    };
    ctx.progress(`cold start: ${o.coldStarts} × local files, ${o.coldStarts} × cached state with NATS down`);
    try {
      const local = await measure('cold-local', join(localDir, 'config.yaml'));
      const cached = await measure('cold-cached', configPath);
      ctx.ledger.note(`cold start (NATS down): every start reached /readyz 200 from its last-good cache directory alone`);
      return report(local, cached);
    } finally {
      rmSync(plane.fleet.dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(localDir, { recursive: true, force: true });
  }
}

function report(local: number[], cached: number[]): ScenarioOutput {
  const cell = (times: number[]) => ({
    text: `${fmt.ms(median(times))} median (max ${fmt.ms(Math.max(...times))}, ${times.length} starts)`,
    met: median(times) <= 1000,
  });
  return {
    rows: { 'cold-local': cell(local), 'cold-cached': cell(cached) },
    raw: [
      `### Cold start (ms from spawn to /readyz 200, polled every ${POLL_MS} ms)\n\n` +
        table(
          ['config', ...local.map((_, i) => `start ${i + 1}`)],
          [
            ['local files', ...local.map(fmt.ms)],
            ['NATS down, cached state', ...cached.map(fmt.ms)],
          ],
        ),
    ],
    commands: [],
  };
}
