/**
 * `authzctl policy unused`: the parts of a service's enforced policy no sidecar has used since
 * it started (ALLOW rules, role grants, required scopes): candidates for removal, read from
 * real traffic across the fleet.
 */
import { sumUsage, type PolicyReport, type UsageTotals } from '../../policy/index.js';
import { EXIT, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP } from '../control-options.js';
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

const help = `Usage: authzctl policy unused --service NAME [--expect N] [--wait DURATION] [--json]

Asks every sidecar of the service for its policy report (<prefix>.report.<service>,
every reply within --wait), adds up how often each part of the enforced policy was
used, and lists those no sidecar used: ALLOW rules that allowed no Check, role grants
(role → permission pattern) that gave no caller a rule's permission, and scopes no
allowed Check was required to have.

Counts run from each sidecar's start ("counted since"), so a rule only used by a
monthly job looks unused on a fleet restarted last week. The sidecars should hold
the same policy revision: one that differs is named, and the lists then hold every
part either revision has. A reply that is not a policy report is counted, named and
left out.

Exit status: 0 every reply is a report, every sidecar holds the same policy revision
and, with --expect, exactly N answered; 1 otherwise; 2 no sidecar answered (or a
usage or connection error).

Options:
${REPORT_HELP}
  --json            print {service, expected, answered, missing, extra, malformed,
                    sidecars, warnings, unused: {rules, grants, scopes}, usage}
  -h, --help        show this help

${CONTROL_HELP}`;

/** What no sidecar used: ALLOW rule names, grants, scopes. */
export interface Unused {
  readonly rules: readonly string[];
  readonly grants: ReadonlyArray<{ readonly role: string; readonly permission: string }>;
  readonly scopes: readonly string[];
}

export function unusedOf(usage: UsageTotals): Unused {
  return {
    rules: usage.rules.filter((r) => r.action === 'ALLOW' && r.hits === 0).map((r) => r.name),
    grants: usage.grants.filter((g) => g.hits === 0).map(({ role, permission }) => ({ role, permission })),
    scopes: usage.scopes.filter((s) => s.hits === 0).map((s) => s.scope),
  };
}

/** A warning when the sidecars do not all hold the same enforced policy revision. */
export function policyWarnings(reports: readonly PolicyReport[]): string[] {
  const groups = holders(reports, (r) => revisionLabel(r.policy));
  if (groups.length > 1) return [`the sidecars do not all hold the same policy revision, and the lists mix them: ${describeHolders(groups)}`];
  if (groups[0]?.value === null) return ['no sidecar holds a policy yet: nothing was counted'];
  return [];
}

function section(title: string, total: number, items: readonly string[]): string[] {
  if (total === 0) return [`${title}: none in the policy`];
  if (items.length === 0) return [`${title}: every one of ${total} used`];
  return [`${title} never used (${items.length} of ${total}):`, ...items.map((item) => `  ${item}`)];
}

export function formatUnused(fleet: FleetReports): { text: string; json: Record<string, unknown>; exitCode: number } {
  const warnings = policyWarnings(fleet.reports);
  const usage = sumUsage(fleet.reports);
  const unused = unusedOf(usage);
  const lines = fleetLines(fleet);
  if (fleet.reports.length > 0) {
    const count = (n: number) => n.toLocaleString('en');
    const rows = fleet.reports.map((r) => [r.instance, revisionLabel(r.policy) ?? 'none', r.startedAt, count(r.checks)]);
    lines.push('', table([['INSTANCE', 'POLICY', 'COUNTED SINCE', 'CHECKS'], ...rows]));
  }
  if (warnings.length > 0) lines.push('', ...warnings.map((w) => `warning: ${w}`));
  lines.push(
    '',
    ...section('ALLOW rules', usage.rules.filter((r) => r.action === 'ALLOW').length, unused.rules),
    ...section(
      'role grants',
      usage.grants.length,
      unused.grants.map((g) => `${g.role} → ${g.permission}`),
    ),
    ...section('required scopes', usage.scopes.length, unused.scopes),
  );
  const sidecars = fleet.reports.map((r) => ({ instance: r.instance, startedAt: r.startedAt, at: r.at, policy: r.policy, checks: r.checks }));
  return {
    text: lines.join('\n'),
    json: { ...fleetJson(fleet), sidecars, warnings, unused, usage },
    exitCode: fleetExitCode(fleet, warnings.length === 0),
  };
}

const command: Command = {
  name: 'policy unused',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, REPORT_OPTIONS);
    const fleet = await askFleet(values);
    if (fleet.answered === 0) {
      output.err(noReplyLine(fleet, values.wait));
      return EXIT.ERROR;
    }
    const report = formatUnused(fleet);
    output.out(values.json ? JSON.stringify(report.json, null, 2) : report.text);
    return report.exitCode;
  },
};

export default command;
