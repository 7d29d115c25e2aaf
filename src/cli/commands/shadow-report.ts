/**
 * `authzctl shadow report`: how a service's shadow policy would have decided the fleet's real
 * traffic, against the enforced policy: every sidecar's divergence table, added up.
 */
import { sumShadowReports, type PolicyReport } from '../../policy/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP } from '../control-options.js';
import { divergenceJson, divergenceLines } from '../divergence.js';
import {
  REPORT_HELP,
  REPORT_OPTIONS,
  askFleet,
  describeHolders,
  fleetExitCode,
  fleetJson,
  fleetLines,
  holders,
  noReplyLine,
  revisionLabel,
  type FleetReports,
} from '../policy-reports.js';
import { table } from './history.js';

const help = `Usage: authzctl shadow report --service NAME [--expect N] [--wait DURATION] [--top N] [--json]

Asks every sidecar of the service for its policy report (<prefix>.report.<service>,
every reply within --wait) and adds up how the shadow policy (shadow.<service>, see
"authzctl publish policy --shadow") decided the same Checks as the enforced one, since
each sidecar started evaluating that shadow revision: how many Checks, how many it
decided the other way (allow against deny), how often evaluating it failed, and the
pairs of decisions that differ, most frequent first, each with a sample request.

Prints how many sidecars reported, the shadow each holds, then the sums. The sums
only mean something when every sidecar evaluates the same shadow: a sidecar that
holds another revision, or none (not received yet, or no shadow is published), is
named. A reply that is not a policy report is counted, named and left out.

Exit status: 0 every reply is a report, every sidecar holds the same shadow and,
with --expect, exactly N answered; 1 otherwise; 2 no sidecar answered (or a usage or
connection error).

Options:
${REPORT_HELP}
  --top N           divergent pairs listed, most frequent first (default 10)
  --json            print {service, expected, answered, missing, extra, malformed,
                    sidecars, warnings, totals: {evaluated, divergent, errors,
                    conditionErrors, overflow, pairs}} with every pair
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = { ...REPORT_OPTIONS, top: { type: 'string', default: '10' } } as const;

function parseTop(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n)) throw new UsageError(`--top: "${text}" must be a whole number of at least 1`);
  return n;
}

/** Warnings about what the sums mix or miss; none when every sidecar holds the same shadow. */
export function shadowWarnings(reports: readonly PolicyReport[]): string[] {
  if (reports.length === 0) return [];
  const groups = holders(reports, (r) => revisionLabel(r.shadow));
  const none = groups.find((g) => g.value === null);
  const held = groups.filter((g) => g.value !== null);
  if (held.length === 0) return [`no sidecar holds a shadow policy (publish one with "authzctl publish policy FILE --service NAME --shadow")`];
  const warnings: string[] = [];
  if (held.length > 1) warnings.push(`the sidecars hold different shadow revisions, and the sums mix them: ${describeHolders(held)}`);
  if (none !== undefined)
    warnings.push(`${none.instances.length} of ${reports.length} sidecars hold no shadow, and their Checks are not in the sums: ${none.instances.join(', ')}`);
  return warnings;
}

function sidecarTable(reports: readonly PolicyReport[]): string {
  const count = (n: number) => n.toLocaleString('en');
  return table([
    ['INSTANCE', 'SHADOW', 'SINCE', 'CHECKS', 'DIVERGENT'],
    ...reports.map((r) =>
      r.shadow === null
        ? [r.instance, 'none', '-', '-', '-']
        : [r.instance, revisionLabel(r.shadow)!, r.shadow.since, count(r.shadow.evaluated), count(r.shadow.divergent)],
    ),
  ]);
}

/** A sidecar in --json: what it holds and its counts; its pairs are in the totals. */
function sidecarJson(r: PolicyReport): Record<string, unknown> {
  let shadow = null;
  if (r.shadow !== null) {
    const { pairs: _pairs, ...counts } = r.shadow;
    shadow = counts;
  }
  return { instance: r.instance, startedAt: r.startedAt, at: r.at, policy: r.policy, checks: r.checks, shadow };
}

export function formatShadowReport(fleet: FleetReports, top: number): { text: string; json: Record<string, unknown>; exitCode: number } {
  const warnings = shadowWarnings(fleet.reports);
  const totals = sumShadowReports(fleet.reports.flatMap((r) => (r.shadow === null ? [] : [r.shadow])));
  const lines = fleetLines(fleet);
  if (fleet.reports.length > 0) lines.push('', sidecarTable(fleet.reports));
  if (warnings.length > 0) lines.push('', ...warnings.map((w) => `warning: ${w}`));
  lines.push('', ...divergenceLines(totals, { top, names: ['ENFORCED', 'SHADOW'] }));
  return {
    text: lines.join('\n'),
    json: { ...fleetJson(fleet), sidecars: fleet.reports.map(sidecarJson), warnings, totals: divergenceJson(totals) },
    exitCode: fleetExitCode(fleet, warnings.length === 0),
  };
}

const command: Command = {
  name: 'shadow report',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    const top = parseTop(values.top);
    const fleet = await askFleet(values);
    if (fleet.answered === 0) {
      output.err(noReplyLine(fleet, values.wait));
      return EXIT.ERROR;
    }
    const report = formatShadowReport(fleet, top);
    output.out(values.json ? JSON.stringify(report.json, null, 2) : report.text);
    return report.exitCode;
  },
};

export default command;
