/**
 * `authzctl status`: ask every sidecar for its StatusReport (request on status-ping, plus the
 * periodic reports on status.>) and compare what each applied with the bucket's latest
 * signed revision of the same keys.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Msg, NatsConnection } from 'nats';
import { BucketError, ControlBucket, storedValues } from '../../control/nats.js';
import { decodeUnverified, verifyDocument, parseKvKey, SUBJECTS, type StatusReport, type SignerSet } from '../../control/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, optionalSigners, parseMillis, requestAll, withNats } from '../control-options.js';
import { table } from './history.js';

const help = `Usage: authzctl status [--expect N] [--wait DURATION] [--json]

Asks every sidecar for its status (<prefix>.status-ping, every reply within --wait,
plus the reports they publish on <prefix>.status.>) and prints one row per sidecar:
service, instance, ready, connected, for each KV key the applied revision against
the bucket's latest signed revision (policy.orders 4/4; behind: LAG), last error.

Only sidecars that answer are listed: one that is down, cut off from NATS or slower
than --wait cannot be named. --expect N says how many should answer (every sidecar
on the subject prefix, all services together: e.g. the replica count), and the
summary line says "2 of 3 expected sidecars answered"; without it, only how many
answered.

A key whose newest value in the bucket is an older revision than one its history
still holds (someone put back an old signed document) is marked ROLLBACK and named:
sidecars refuse that value, and publishing a new revision supersedes it.

Exit status: 0 every sidecar that answered is ready, converged and current, no key
is rolled back and, with --expect, exactly N answered; 1 one lags, is not ready,
cannot confirm it is current (NATS out of reach) or reports an error, a key is
rolled back, or with --expect fewer or more than N answered (more: a sidecar you
did not count, e.g. a pod of an old deployment, still enforces what it holds);
2 no sidecar answered (or a usage/connection error).

Options:
  --expect N        how many sidecars should answer (a whole number, 1 or more)
  --wait DURATION   how long to collect replies: 500ms, 1s, 5s (default 1s)
  --json            print {expected, answered, missing, extra, converged, sidecars}
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = {
  ...CONTROL_OPTIONS,
  expect: { type: 'string' },
  wait: { type: 'string', default: '1s' },
  json: { type: 'boolean', default: false },
} as const;

/** `--expect N`: a whole number of at least 1; undefined when not given. */
export function parseExpect(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n))
    throw new UsageError(`--expect: "${text}" must be a whole number of at least 1 (how many sidecars should answer)`);
  return n;
}

export interface KeyState {
  readonly key: string;
  readonly applied: number;
  /** The bucket's highest signed revision of the key; null when it holds no (readable) document. */
  readonly latest: number | null;
  readonly lagging: boolean;
  /** The newest value is an older revision than `latest` (a replayed document). */
  readonly rollback: boolean;
}

/** What the bucket holds for a key: its highest readable revision, and the newest value's. */
export interface BucketKeyState {
  readonly highest: number;
  /** The revision of the newest value; null when it does not read (unsigned, another signer). */
  readonly newest: number | null;
}

export interface StatusRow {
  readonly service: string;
  readonly instance: string;
  readonly ready: boolean;
  readonly connected: boolean;
  readonly keys: readonly KeyState[];
  readonly lastError: StatusReport['lastError'];
  /** Keys the sidecar cannot confirm are current (it lost NATS, or cannot read the bucket). */
  readonly unconfirmed: readonly string[];
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
  if (value.unconfirmed !== undefined && !(Array.isArray(value.unconfirmed) && value.unconfirmed.every((k) => typeof k === 'string'))) return null;
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

/** Rows from reports and what the bucket holds (key → state; absent = unknown). */
export function statusRows(reports: readonly StatusReport[], bucket: ReadonlyMap<string, BucketKeyState>): StatusRow[] {
  return newestReports(reports).map((report) => {
    const keys = Object.keys(report.revisions)
      .sort()
      .map((key): KeyState => {
        const applied = report.revisions[key];
        const state = bucket.get(key);
        const latest = state?.highest ?? null;
        return { key, applied, latest, lagging: latest !== null && applied < latest, rollback: state !== undefined && state.newest !== state.highest };
      });
    const unconfirmed = [...(report.unconfirmed ?? [])];
    const converged = report.ready && report.lastError === null && unconfirmed.length === 0 && keys.every((k) => !k.lagging);
    return {
      service: report.service,
      instance: report.instance,
      ready: report.ready,
      connected: report.connected,
      keys,
      lastError: report.lastError,
      unconfirmed,
      converged,
    };
  });
}

/** Keys whose newest value is not their highest revision, once each. */
export function rolledBackKeys(rows: readonly StatusRow[]): KeyState[] {
  const seen = new Map<string, KeyState>();
  for (const key of rows.flatMap((r) => r.keys)) if (key.rollback && !seen.has(key.key)) seen.set(key.key, key);
  return [...seen.values()];
}

/** How many sidecars answered against how many should have; `missing`/`extra` are null without --expect. */
export interface AnswerCounts {
  readonly expected: number | null;
  readonly answered: number;
  /** Expected sidecars that did not answer (they cannot be named). */
  readonly missing: number | null;
  /** Sidecars that answered beyond the expected count. */
  readonly extra: number | null;
}

export function answerCounts(answered: number, expected?: number): AnswerCounts {
  return {
    expected: expected ?? null,
    answered,
    missing: expected === undefined ? null : Math.max(0, expected - answered),
    extra: expected === undefined ? null : Math.max(0, answered - expected),
  };
}

/** Counts for the summary line and `--json`. */
export interface StatusSummary extends AnswerCounts {
  readonly converged: number;
  readonly sidecars: readonly StatusRow[];
}

export function summarize(rows: readonly StatusRow[], expected?: number): StatusSummary {
  return { ...answerCounts(rows.length, expected), converged: rows.filter((r) => r.converged).length, sidecars: rows };
}

const sidecars = (n: number) => `${n} sidecar${n === 1 ? '' : 's'}`;

/**
 * "2 of 3 expected sidecars answered: 1 missing (…)", "4 sidecars answered, 3 expected: …",
 * "3 sidecars answered (…)"; `verb` is what they did ("reported" for policy reports).
 */
export function answeredLine(counts: AnswerCounts, verb = 'answered'): string {
  const { expected, answered, missing, extra } = counts;
  if (expected === null) return `${sidecars(answered)} ${verb} (--expect N to check that none is missing)`;
  if (extra !== null && extra > 0)
    return `${sidecars(answered)} ${verb}, ${expected} expected: ${extra} more than expected (a pod of an old deployment still running, or --expect is wrong?)`;
  const head = `${answered} of ${expected} expected ${expected === 1 ? 'sidecar' : 'sidecars'} ${verb}`;
  return missing !== null && missing > 0
    ? `${head}: ${missing} missing (down, cut off from NATS or slower than --wait: one that does not answer cannot be named)`
    : head;
}

export function formatStatus(rows: readonly StatusRow[], expected?: number): string {
  const header = ['SERVICE', 'INSTANCE', 'READY', 'CONNECTED', 'CURRENT', 'REVISIONS', 'LAST ERROR'];
  const cells = rows.map((r) => [
    r.service,
    r.instance,
    r.ready ? 'yes' : 'NO',
    r.connected ? 'yes' : 'NO',
    r.unconfirmed.length === 0 ? 'yes' : `NO (${r.unconfirmed.join(', ')})`,
    r.keys.map((k) => `${k.key} ${k.applied}/${k.latest ?? '-'}${k.lagging ? ' LAG' : ''}${k.rollback ? ' ROLLBACK' : ''}`).join(', ') || '-',
    r.lastError === null ? '-' : `${r.lastError.code} ${r.lastError.key}`,
  ]);
  const summary = summarize(rows, expected);
  const rollbacks = rolledBackKeys(rows).map(
    (k) =>
      `\nROLLBACK ${k.key}: the bucket's newest value is ${k.latest === null ? 'not a readable document' : 'an older revision than'} revision ${k.latest} in its history (a replayed document); sidecars refuse it: publish a new revision to supersede it`,
  );
  return `${table([header, ...cells])}\n\n${answeredLine(summary)}\n${summary.converged}/${sidecars(rows.length)} converged${rollbacks.join('')}`;
}

export function exitCodeFor(rows: readonly StatusRow[], expected?: number): number {
  if (rows.length === 0) return EXIT.ERROR;
  const counted = expected === undefined || rows.length === expected;
  return counted && rows.every((r) => r.converged) && rolledBackKeys(rows).length === 0 ? EXIT.OK : EXIT.DENIED_OR_FAILED;
}

/** Every report heard within `waitMs`: replies to one ping and the periodic broadcasts. */
async function collectReports(nc: NatsConnection, prefix: string, waitMs: number): Promise<StatusReport[]> {
  const reports: StatusReport[] = [];
  const take = (msg: Msg) => {
    const report = parseStatusReport(msg.data);
    if (report !== null) reports.push(report);
  };
  const broadcasts = nc.subscribe(SUBJECTS.statusAll(prefix), { callback: (err, msg) => err === null && take(msg) });
  const replies = requestAll(nc, SUBJECTS.statusPing(prefix), waitMs).then((msgs) => msgs.forEach(take));
  await Promise.all([replies, sleep(waitMs)]);
  broadcasts.unsubscribe();
  return reports;
}

/** For every key the sidecars reported: its highest readable revision and its newest value's. */
async function bucketStates(bucket: ControlBucket, signers: SignerSet | null, keys: readonly string[]): Promise<Map<string, BucketKeyState>> {
  const states = new Map<string, BucketKeyState>();
  for (const key of keys) {
    const expected = parseKvKey(key);
    if (expected === null) continue;
    const revisions: Array<number | null> = [];
    for (const value of await storedValues(bucket, key)) {
      try {
        revisions.push(signers === null ? decodeUnverified(value).document.revision : (await verifyDocument(value, signers, expected)).revision);
      } catch {
        revisions.push(null);
      }
    }
    const readable = revisions.filter((r): r is number => r !== null);
    if (readable.length > 0) states.set(key, { highest: Math.max(...readable), newest: revisions.at(-1) ?? null });
  }
  return states;
}

const command: Command = {
  name: 'status',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    const settings = controlSettings(values);
    const waitMs = parseMillis(values.wait, '--wait');
    const expected = parseExpect(values.expect);
    const signers = await optionalSigners(settings);
    const deadline = Date.now() + settings.retryForMs;
    const rows = await withNats(settings, async (nc) => {
      const reports = await collectReports(nc, settings.subjectPrefix, waitMs);
      if (reports.length === 0) return [];
      const keys = [...new Set(reports.flatMap((r) => Object.keys(r.revisions)))];
      let bucket: ControlBucket;
      try {
        bucket = await ControlBucket.open(nc, settings.bucket, { create: false, timeoutMs: settings.timeoutMs, deadline });
      } catch (error) {
        if (error instanceof BucketError && error.code === 'bucket_not_found') return statusRows(reports, new Map());
        throw error;
      }
      return statusRows(reports, await bucketStates(bucket, signers, keys));
    });
    if (rows.length === 0) {
      const counted = expected === undefined ? '' : ` (0 of ${expected} expected)`;
      output.err(`authzctl: no sidecar answered on ${SUBJECTS.statusPing(settings.subjectPrefix)} within ${values.wait}${counted}`);
      return EXIT.ERROR;
    }
    output.out(values.json ? JSON.stringify(summarize(rows, expected), null, 2) : formatStatus(rows, expected));
    return exitCodeFor(rows, expected);
  },
};

export default command;
