/**
 * `authzctl status`: ask every sidecar for its StatusReport (request on status-ping, plus the
 * periodic reports on status.>) and compare what each applied with the bucket's latest
 * signed revision of the same keys.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, RequestStrategy, type KV, type Msg, type NatsConnection } from 'nats';
import { BucketError, openBucket } from '../../control/bucket.js';
import { parseKvKey } from '../../control/kv-keys.js';
import { SUBJECTS, type StatusReport } from '../../control/types.js';
import { EXIT, parseOptions, type Command } from '../command.js';
import type { SignerSet } from '../../control/signers.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, optionalSigners, parseMillis, withNats, type ControlSettings } from '../control-options.js';
import { table } from './history.js';
import { currentDocument } from './publish.js';

const help = `Usage: authzctl status [--wait DURATION] [--json]

Asks every sidecar for its status (<prefix>.status-ping, every reply within --wait,
plus the reports they publish on <prefix>.status.>) and prints one row per sidecar:
service, instance, ready, connected, for each KV key the applied revision against
the bucket's latest signed revision (policy.orders 4/4; behind: LAG), last error.

Exit status: 0 every reporting sidecar is ready and converged, 1 one lags, is not
ready or reports an error, 2 no sidecar answered (or a usage/connection error).

Options:
  --wait DURATION   how long to collect replies: 500ms, 1s, 5s (default 1s)
  --json            print the rows as JSON
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = { ...CONTROL_OPTIONS, wait: { type: 'string', default: '1s' }, json: { type: 'boolean', default: false } } as const;

export interface KeyState {
  readonly key: string;
  readonly applied: number;
  /** The bucket's latest signed revision; null when the bucket holds no (readable) document. */
  readonly latest: number | null;
  readonly lagging: boolean;
}

export interface StatusRow {
  readonly service: string;
  readonly instance: string;
  readonly ready: boolean;
  readonly connected: boolean;
  readonly keys: readonly KeyState[];
  readonly lastError: StatusReport['lastError'];
  readonly converged: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A StatusReport from a message body, or null when it is not one (foreign traffic is ignored). */
export function parseStatusReport(data: Uint8Array | string): StatusReport | null {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
  } catch {
    return null;
  }
  if (!isObject(value) || typeof value.service !== 'string' || typeof value.instance !== 'string') return null;
  if (typeof value.ready !== 'boolean' || typeof value.connected !== 'boolean' || typeof value.at !== 'string') return null;
  const { revisions, lastError } = value;
  if (!isObject(revisions) || Object.values(revisions).some((r) => typeof r !== 'number')) return null;
  if (lastError !== null && !(isObject(lastError) && typeof lastError.code === 'string' && typeof lastError.key === 'string')) return null;
  return value as unknown as StatusReport;
}

/** One report per service/instance, the newest (by `at`) winning. */
export function newestReports(reports: readonly StatusReport[]): StatusReport[] {
  const byInstance = new Map<string, StatusReport>();
  for (const report of reports) {
    const id = `${report.service}\u0000${report.instance}`;
    const seen = byInstance.get(id);
    if (seen === undefined || Date.parse(report.at) >= Date.parse(seen.at)) byInstance.set(id, report);
  }
  return [...byInstance.values()].sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));
}

/** Rows from reports and the bucket's latest revisions (key → revision; absent = unknown). */
export function statusRows(reports: readonly StatusReport[], latest: ReadonlyMap<string, number>): StatusRow[] {
  return newestReports(reports).map((report) => {
    const keys = Object.keys(report.revisions).sort().map((key): KeyState => {
      const applied = report.revisions[key];
      const newest = latest.get(key) ?? null;
      return { key, applied, latest: newest, lagging: newest !== null && applied < newest };
    });
    const converged = report.ready && report.lastError === null && keys.every((k) => !k.lagging);
    return { service: report.service, instance: report.instance, ready: report.ready, connected: report.connected, keys, lastError: report.lastError, converged };
  });
}

export function formatStatus(rows: readonly StatusRow[]): string {
  const header = ['SERVICE', 'INSTANCE', 'READY', 'CONNECTED', 'REVISIONS', 'LAST ERROR'];
  const cells = rows.map((r) => [
    r.service,
    r.instance,
    r.ready ? 'yes' : 'NO',
    r.connected ? 'yes' : 'NO',
    r.keys.map((k) => `${k.key} ${k.applied}/${k.latest ?? '-'}${k.lagging ? ' LAG' : ''}`).join(', ') || '-',
    r.lastError === null ? '-' : `${r.lastError.code} ${r.lastError.key}`,
  ]);
  const converged = rows.filter((r) => r.converged).length;
  return `${table([header, ...cells])}\n\n${converged}/${rows.length} sidecar${rows.length === 1 ? '' : 's'} converged`;
}

export function exitCodeFor(rows: readonly StatusRow[]): number {
  if (rows.length === 0) return EXIT.ERROR;
  return rows.every((r) => r.converged) ? EXIT.OK : EXIT.DENIED_OR_FAILED;
}

/** Every report heard within `waitMs`: replies to one ping and the periodic broadcasts. */
async function collectReports(nc: NatsConnection, prefix: string, waitMs: number): Promise<StatusReport[]> {
  const reports: StatusReport[] = [];
  const take = (msg: Msg) => {
    const report = parseStatusReport(msg.data);
    if (report !== null) reports.push(report);
  };
  const broadcasts = nc.subscribe(SUBJECTS.statusAll(prefix), { callback: (err, msg) => err === null && take(msg) });
  const replies = (async () => {
    try {
      for await (const msg of await nc.requestMany(SUBJECTS.statusPing(prefix), undefined, { maxWait: waitMs, strategy: RequestStrategy.Timer })) take(msg);
    } catch (error) {
      if ((error as { code?: string }).code !== ErrorCode.NoResponders) throw error;
    }
  })();
  await Promise.all([replies, sleep(waitMs)]);
  broadcasts.unsubscribe();
  return reports;
}

/** The bucket's latest signed revision of every key the sidecars reported. */
async function latestRevisions(nc: NatsConnection, settings: ControlSettings, signers: SignerSet | null, keys: readonly string[]): Promise<Map<string, number>> {
  const latest = new Map<string, number>();
  let kv: KV;
  try {
    kv = await openBucket(nc, settings.bucket, { create: false, timeoutMs: settings.timeoutMs });
  } catch (error) {
    if (error instanceof BucketError && error.code === 'bucket_not_found') return latest;
    throw error;
  }
  for (const key of keys) {
    const parsed = parseKvKey(key);
    if (parsed === null) continue;
    const doc = await currentDocument(kv, parsed.kind, parsed.target, signers).catch(() => null);
    if (doc !== null) latest.set(key, doc.revision);
  }
  return latest;
}

const command: Command = {
  name: 'status',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    const settings = controlSettings(values);
    const waitMs = parseMillis(values.wait, '--wait');
    const signers = await optionalSigners(settings);
    const rows = await withNats(settings, async (nc) => {
      const reports = await collectReports(nc, settings.subjectPrefix, waitMs);
      const keys = [...new Set(reports.flatMap((r) => Object.keys(r.revisions)))];
      return statusRows(reports, reports.length === 0 ? new Map() : await latestRevisions(nc, settings, signers, keys));
    });
    if (rows.length === 0) {
      output.err(`authzctl: no sidecar answered on ${SUBJECTS.statusPing(settings.subjectPrefix)} within ${values.wait}`);
      return EXIT.ERROR;
    }
    output.out(values.json ? JSON.stringify(rows, null, 2) : formatStatus(rows));
    return exitCodeFor(rows);
  },
};

export default command;
