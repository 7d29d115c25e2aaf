/**
 * What `authzctl shadow report` and `authzctl policy unused` share: every sidecar of a service
 * asked for its PolicyReport at once (`<prefix>.report.<service>`, every reply within --wait),
 * each reply read defensively (one that is not a report is counted and named, never fatal, and
 * left out of the sums), and the lines, JSON and exit status that say who answered.
 */
import { z } from 'zod';
import { DocumentError, printable, validateDocument } from '../shared/index.js';
import { SUBJECTS, policyTarget } from '../control/index.js';
import { DECISION_REASONS, type PolicyReport } from '../policy/index.js';
import { EXIT, UsageError } from './command.js';
import { CONTROL_OPTIONS, controlSettings, parseMillis, requestAll, withNats } from './control-options.js';
import { asUsage } from './commands/publish.js';
import { answerCounts, answeredLine, parseExpect, type AnswerCounts } from './commands/status.js';

export const REPORT_OPTIONS = {
  ...CONTROL_OPTIONS,
  service: { type: 'string' },
  expect: { type: 'string' },
  wait: { type: 'string', default: '1s' },
  json: { type: 'boolean', default: false },
} as const;

/** The help lines of REPORT_OPTIONS other than --json, whose shape each command describes. */
export const REPORT_HELP = `  --service NAME    the service whose sidecars to ask (required)
  --expect N        how many sidecars of the service should answer (e.g. its replicas)
  --wait DURATION   how long to collect replies: 500ms, 1s, 5s (default 1s)`;

// Strings end up on a terminal: a reply is not trusted to be free of control characters.
const text = z.string().transform(printable);
const count = z.number().int().nonnegative();
const named = z.object({ name: text, revision: text });

const sampleSchema = z.object({ requestId: text, method: text, path: text, subject: text.nullable(), at: text });
const pairSchema = z.object({
  enforced: z.enum(['allow', 'deny']),
  enforcedReason: z.enum(DECISION_REASONS),
  enforcedRule: text.nullable(),
  shadow: z.enum(['allow', 'deny', 'error']),
  shadowReason: z.enum([...DECISION_REASONS, 'internal_error']),
  shadowRule: text.nullable(),
  count,
  samples: z.array(sampleSchema),
});
const shadowSchema = named.extend({
  since: text,
  evaluated: count,
  divergent: count,
  errors: count,
  conditionErrors: count,
  overflow: count,
  pairs: z.array(pairSchema),
});
const reportSchema = z.object({
  service: text,
  instance: z.string().min(1).transform(printable),
  startedAt: text,
  at: text,
  policy: named.nullable(),
  checks: count,
  rules: z.array(z.object({ name: text, action: z.enum(['ALLOW', 'DENY']), hits: count })),
  grants: z.array(z.object({ role: text, permission: text, hits: count })),
  scopes: z.array(z.object({ scope: text, hits: count })),
  shadow: shadowSchema.nullable(),
});

/**
 * One reply's body → the PolicyReport of a sidecar of `service`; a DocumentError naming the
 * field otherwise. Unknown fields are dropped (a newer sidecar may add some).
 */
export function parsePolicyReport(data: Uint8Array | string, service: string, where: string): PolicyReport {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
  } catch {
    throw new DocumentError(where, '', 'is not JSON');
  }
  const report: PolicyReport = validateDocument(reportSchema, value, where, 'a policy report (a JSON object)');
  if (report.service !== service) throw new DocumentError(where, 'service', `is "${report.service}", not "${service}"`);
  return report;
}

/** A reply that is not a usable report: which one (its instance when it names one), and why. */
export interface MalformedReply {
  readonly reply: number;
  readonly instance: string | null;
  readonly problem: string;
}

export interface FleetReports extends AnswerCounts {
  readonly service: string;
  readonly subject: string;
  /** The usable reports, by instance. */
  readonly reports: readonly PolicyReport[];
  readonly malformed: readonly MalformedReply[];
}

/** Every reply → the reports and the malformed ones; `answered` counts both (a malformed reply is most likely a sidecar too). */
export function fleetReports(service: string, subject: string, replies: readonly (Uint8Array | string)[], expected?: number): FleetReports {
  const reports: PolicyReport[] = [];
  const malformed: MalformedReply[] = [];
  replies.forEach((data, i) => {
    try {
      reports.push(parsePolicyReport(data, service, `reply ${i + 1}`));
    } catch (error) {
      if (!(error instanceof DocumentError)) throw error;
      malformed.push({ reply: i + 1, instance: instanceOf(data), problem: `${error.shownField || '(document)'}: ${error.reason}` });
    }
  });
  reports.sort((a, b) => a.instance.localeCompare(b.instance));
  return { ...answerCounts(replies.length, expected), service, subject, reports, malformed };
}

function instanceOf(data: Uint8Array | string): string | null {
  try {
    const value = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as { instance?: unknown } | null;
    return typeof value?.instance === 'string' ? printable(value.instance) : null;
  } catch {
    return null;
  }
}

/** Parses REPORT_OPTIONS' values and asks the fleet. */
export async function askFleet(values: Parameters<typeof controlSettings>[0] & { service?: string; expect?: string; wait: string }): Promise<FleetReports> {
  if (values.service === undefined) throw new UsageError('--service NAME is required');
  const service = asUsage(() => policyTarget(values.service!), '--service');
  const settings = controlSettings(values);
  const waitMs = parseMillis(values.wait, '--wait');
  const expected = parseExpect(values.expect);
  const subject = SUBJECTS.report(settings.subjectPrefix, service);
  const replies = await withNats(settings, (nc) => requestAll(nc, subject, waitMs));
  return fleetReports(
    service,
    subject,
    replies.map((msg) => msg.data),
    expected,
  );
}

/** The stderr line when nobody answered (exit 2). */
export function noReplyLine(fleet: FleetReports, wait: string): string {
  const counted = fleet.expected === null ? '' : ` (0 of ${fleet.expected} expected)`;
  return `authzctl: no sidecar answered on ${fleet.subject} within ${wait}${counted}`;
}

/** "3 of 3 expected sidecars reported", then one line per reply that is not a report. */
export function fleetLines(fleet: FleetReports): string[] {
  const lines = [answeredLine(fleet, 'reported')];
  const n = fleet.malformed.length;
  if (n > 0) lines.push(`${n} of those ${n === 1 ? 'replies is' : 'replies are'} not a usable report, left out of what follows:`);
  for (const m of fleet.malformed) lines.push(`  reply ${m.reply}${m.instance === null ? '' : ` (instance ${m.instance})`}: ${m.problem}`);
  return lines;
}

/** The counts every --json output starts with. */
export function fleetJson(fleet: FleetReports): Record<string, unknown> {
  const { service, expected, answered, missing, extra, malformed } = fleet;
  return { service, expected, answered, missing, extra, malformed };
}

/** Which sidecars hold one value (a revision; null: none). */
export interface Holding {
  readonly value: string | null;
  readonly instances: readonly string[];
}

/** The instances holding each value of `holds`, in the order first seen. */
export function holders(reports: readonly PolicyReport[], holds: (r: PolicyReport) => string | null): Holding[] {
  const groups = new Map<string | null, string[]>();
  for (const report of reports) {
    const value = holds(report);
    groups.set(value, [...(groups.get(value) ?? []), report.instance]);
  }
  return [...groups].map(([value, instances]) => ({ value, instances }));
}

/** `orders revision 4 (orders-1, orders-2), none (orders-3)` */
export function describeHolders(groups: readonly Holding[]): string {
  return groups.map((g) => `${g.value ?? 'none'} (${g.instances.join(', ')})`).join(', ');
}

/** 1 when the count is not --expect's, a reply was not a report, or `consistent` is false (the command's own warnings); else 0. */
export function fleetExitCode(fleet: FleetReports, consistent: boolean): number {
  const counted = fleet.expected === null || fleet.answered === fleet.expected;
  return counted && fleet.malformed.length === 0 && consistent ? EXIT.OK : EXIT.DENIED_OR_FAILED;
}

/** `name revision N` of a report's policy or shadow. */
export function revisionLabel(held: { readonly name: string; readonly revision: string } | null): string | null {
  return held === null ? null : `${held.name} revision ${held.revision}`;
}
