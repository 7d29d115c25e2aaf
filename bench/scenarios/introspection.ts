/**
 * Introspected opaque tokens, cached: the sidecar-50 config with its issuer turned into an
 * introspection issuer (the test IdP on loopback), against sidecar-50 with cached JWTs, under
 * the same client, the same 50-rule policy and the same number of distinct tokens. Every
 * token is introspected once in the warm-up; the IdP's call count proves none is asked again.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALLOWED_BY_RULE } from '../checks.js';
import { runRotating, type RotatingResult } from '../load/rotating.js';
import { policyText } from '../policies/generate.js';
import { sidecarDir, startSidecarProcess, type Target } from '../processes.js';
import { checkRequestBody } from '../request.js';
import { inRoundOrder, median } from '../stats.js';
import { startTestIdp } from '../../testkit/test-idp.js';
import { AUDIENCE, CALLER_CLAIMS, minterFor } from '../../testkit/tokens.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

/** Distinct callers, each with one token, for both sidecars. */
const CALLERS = 100;
const SECRET = 'bench-introspection-client-secret';

export async function introspection(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, ledger } = ctx;
  const idp = await startTestIdp({ jwks: [], clientId: 'bench', clientSecret: SECRET });
  const dir = sidecarDir({ policy: policyText({ rules: 50 }) });
  let opaque: Target | undefined;
  try {
    writeFileSync(join(dir, 'client.secret'), SECRET);
    const configPath = join(dir, 'config.yaml');
    const config = readFileSync(configPath, 'utf8');
    const keysLine = '    keys: { file: keys/idp.jwks.json }\n';
    if (!config.includes(keysLine)) throw new Error('the bench sidecar config no longer has the line this scenario replaces');
    writeFileSync(
      configPath,
      config.replace(keysLine, `    introspection: { url: "${idp.introspectionUrl}", clientId: bench, clientSecretFile: client.secret }\n`),
    );
    opaque = await startSidecarProcess('sidecar-50-introspection', configPath);
    const jwt = await ctx.targets.get('sidecar-50');

    const exp = Math.floor(Date.now() / 1000) + 3600;
    const minter = minterFor();
    const jwtTokens = Array.from({ length: CALLERS }, (_, i) => minter.mint({ sub: `caller-${i}` }));
    const opaqueTokens = Array.from({ length: CALLERS }, (_, i) => {
      const token = `bench-opaque-${i}-${Math.random().toString(36).slice(2)}`;
      idp.tokens.set(token, { ...CALLER_CLAIMS, sub: `caller-${i}`, aud: AUDIENCE, exp });
      return token;
    });
    const bodiesOf = (tokens: string[]) => tokens.map((token) => checkRequestBody({ token }));
    const bodies = new Map<Target, Buffer[]>([
      [jwt, bodiesOf(jwtTokens)],
      [opaque, bodiesOf(opaqueTokens)],
    ]);
    const perRound = o.freshRequests;
    const run = async (t: Target, requests: number, measured: boolean): Promise<RotatingResult> => {
      const own = bodies.get(t)!;
      if (measured) await sleep(o.quietMs);
      await ledger.precheck(t, own[0], ALLOWED_BY_RULE, 'cached tokens');
      const before = await ledger.snapshot(t);
      const result = await runRotating({ port: t.port, connections: o.connections, streams: o.streams, requests, body: (i) => own[i % own.length] });
      if (result.failed > 0) throw new Error(`${t.name} (cached tokens): ${result.failed} of ${result.requests} calls failed, first: ${result.firstFailure}`);
      if (measured) await ledger.counted(t, before, ALLOWED_BY_RULE, 'cached tokens', result.succeeded, 0);
      return result;
    };

    ctx.progress('warm-up sidecar-50 (JWT) and sidecar-50-introspection: every token once, then cached');
    for (const t of [jwt, opaque]) await run(t, o.smoke ? 1_000 : 20_000, false);
    const callsAfterWarmUp = idp.calls.introspection;
    const jwtRuns: RotatingResult[] = [];
    const opaqueRuns: RotatingResult[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const order = inRoundOrder([jwt, opaque], r + 1);
      ctx.progress(`round ${r + 1}/${o.rounds}: cached tokens, ${order.map((t) => t.name).join(' then ')} (${perRound.toLocaleString('en')} requests each)`);
      for (const t of order) (t === opaque ? opaqueRuns : jwtRuns).push(await run(t, perRound, true));
    }
    if (callsAfterWarmUp !== CALLERS || idp.calls.introspection !== CALLERS)
      throw new Error(`introspection calls: ${callsAfterWarmUp} after the warm-up, ${idp.calls.introspection} in all (expected ${CALLERS}: one per token)`);

    const ratio = median(opaqueRuns.map((s, i) => s.rps / jwtRuns[i].rps));
    const medianRps = (runs: RotatingResult[]) => median(runs.map((r) => r.rps));
    const cell = (r: RotatingResult) => `${fmt.int(r.rps)} rps, p50 ${fmt.us(r.latencyUs.p50)}, p99 ${fmt.us(r.latencyUs.p99)}`;
    return {
      rows: {
        'introspection-rps': {
          text: `${fmt.ratio(ratio)} cached JWT (${fmt.int(medianRps(opaqueRuns))} vs ${fmt.int(medianRps(jwtRuns))} rps; ${idp.calls.introspection} introspection calls for ${CALLERS} tokens)`,
          met: ratio >= 0.9,
        },
      },
      raw: [
        `### Cached introspected tokens (bench/load/rotating.ts: ${o.connections} connections × ${o.streams} streams, ${CALLERS} callers, ${perRound.toLocaleString('en')} requests per run)\n\n` +
          table(
            ['round', 'sidecar-50 (cached JWT)', 'sidecar-50-introspection (cached answers)'],
            jwtRuns.map((j, i) => [String(i + 1), cell(j), cell(opaqueRuns[i])]),
          ),
      ],
      commands: [
        `# cached introspected tokens: bench/load/rotating.ts, ${o.connections} connections × ${o.streams} streams, ${perRound} requests per run over ${CALLERS} tokens per sidecar; the test IdP (testkit/test-idp.ts) on loopback http`,
      ],
    };
  } finally {
    await opaque?.stop();
    rmSync(dir, { recursive: true, force: true });
    await idp.close();
  }
}
