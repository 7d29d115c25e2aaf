/**
 * Per-Check policy evaluation, in-process: runs bench/micro/evaluate.ts in its own process
 * (nothing else on its heap or event loop) for the 50-rule, large and CEL policies.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { MicroInput, MicroResult } from '../micro/evaluate.js';
import { TENANT_CONDITION } from '../policies/generate.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../micro/evaluate.js', import.meta.url));
const EXPECTED = 'allow allowed_by_rule read-orders';

export async function policyEval(ctx: Context): Promise<ScenarioOutput> {
  const { options: o } = ctx;
  const large = `${o.largeRules.toLocaleString('en')}-rule`;
  const input: MicroInput = {
    policies: [
      { label: '50-rule', rules: 50 },
      { label: large, rules: o.largeRules },
      { label: '50-rule + CEL', rules: 50, when: TENANT_CONDITION },
    ],
    calls: o.evalCalls,
    warmup: Math.max(1_000, o.evalCalls / 5),
  };
  ctx.progress(`policy evaluation micro-benchmark: ${o.evalCalls.toLocaleString('en')} timed calls per policy`);
  const { stdout } = await run(process.execPath, [SCRIPT, JSON.stringify(input)], { maxBuffer: 1024 * 1024 });
  const results = JSON.parse(stdout) as MicroResult[];
  for (const r of results) if (r.decision !== EXPECTED) throw new Error(`policy-eval ${r.label}: decided "${r.decision}", expected "${EXPECTED}"`);
  ctx.ledger.note(`policy evaluation: every policy decided "${EXPECTED}" for the benchmark request`);
  const big = results.find((r) => r.label === large)!;
  return {
    rows: { 'large-eval-p99': { text: `p99 ${fmt.us(big.p99Us)} (p50 ${fmt.us(big.p50Us)})`, met: big.p99Us <= 20 } },
    raw: [
      `### Policy evaluation, in-process (CompiledPolicy.evaluate; ${o.evalCalls.toLocaleString('en')} calls each timed with process.hrtime.bigint after ${input.warmup.toLocaleString('en')} warm-up calls)\n\n` +
        table(
          ['policy', 'rules', 'compile', 'p50', 'p99', 'max', 'mean'],
          results.map((r) => [r.label, fmt.int(r.rules), fmt.ms(r.compileMs), fmt.us(r.p50Us), fmt.us(r.p99Us), fmt.us(r.maxUs), fmt.us(r.meanUs)]),
        ),
    ],
    commands: [`node dist/bench/micro/evaluate.js '${JSON.stringify(input)}'`],
  };
}
