/**
 * What makes a figure trustworthy: before each measured run, one call with the run's exact
 * body must get the expected CheckResponse; after it, the sidecar's authz_checks_total for the
 * expected decision and reason must have grown by the number of requests the load generator
 * completed. Any mismatch aborts the suite. The ledger summarises what was checked.
 */
import { get } from 'node:http';
import { unaryCall } from './grpc-call.js';
import { metricValue, readMetrics, type Sample, type Target } from './processes.js';
import { decodeCheckResponse, type CheckOutcome } from './request.js';

export interface Expectation {
  /** Short label for the report: "OK", "allow allowed_by_rule"… */
  readonly label: string;
  /** CheckResponse.status.code. */
  readonly code: number;
  /** Sidecars only: dynamic_metadata reason and authz_checks_total labels. */
  readonly decision?: 'allow' | 'deny';
  readonly reason?: string;
  readonly rule?: string;
}

export const ANSWERS_OK: Expectation = { label: 'status OK', code: 0 };
export const ALLOWED_BY_RULE: Expectation = {
  label: 'allow, reason allowed_by_rule, rule read-orders',
  code: 0,
  decision: 'allow',
  reason: 'allowed_by_rule',
  rule: 'read-orders',
};
export const CREDENTIALS_MISSING: Expectation = { label: 'deny 401, reason credentials_missing', code: 16, decision: 'deny', reason: 'credentials_missing' };

/** True when a decoded CheckResponse is the expected answer (code, and reason and rule when named). */
export function answers(outcome: CheckOutcome, expect: Expectation): boolean {
  return (
    outcome.code === expect.code &&
    (expect.reason === undefined || outcome.reason === expect.reason) &&
    (expect.rule === undefined || outcome.rule === expect.rule)
  );
}

interface Entry {
  prechecks: number;
  runs: number;
  completed: number;
  counted: number;
  cacheMisses: number | null;
}

export class Ledger {
  private readonly entries = new Map<string, Entry>();
  private readonly notes: string[] = [];

  /** A check made outside a load run (micro-benchmark decisions, tokens after a rotation…). */
  note(line: string): void {
    this.notes.push(`- ${line}`);
  }

  /** One call with `body`; throws unless the answer is `expect`. */
  async precheck(target: Target, body: Buffer, expect: Expectation, what: string): Promise<void> {
    const result = await unaryCall(target.port, body);
    const context = `pre-check ${target.name} (${what})`;
    if (result.httpStatus !== 200 || result.grpcStatus !== 0) {
      throw new Error(`${context}: HTTP ${result.httpStatus}, grpc-status ${result.grpcStatus} ${result.grpcMessage}`);
    }
    const outcome = decodeCheckResponse(result.message);
    if (!answers(outcome, expect)) throw new Error(`${context}: expected ${expect.label}, got ${JSON.stringify(outcome)}`);
    this.entry(target, what, expect).prechecks++;
  }

  /**
   * One HTTP/1.1 GET of `path` with `headers` (HTTP mode); throws unless the answer is 200 and,
   * from a sidecar, carries the expected reason (x-authz-reason).
   */
  async precheckHttp(target: Target, port: number, path: string, headers: Readonly<Record<string, string>>, expect: Expectation, what: string): Promise<void> {
    const answer = await new Promise<{ status: number; reason: string | undefined }>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path, headers, setHost: false, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['x-authz-reason'] as string | undefined }));
      }).on('error', reject);
    });
    const context = `pre-check ${target.name} (${what})`;
    if (answer.status !== 200) throw new Error(`${context}: HTTP ${answer.status}, reason ${answer.reason}`);
    if (target.adminUrl !== null && expect.reason !== undefined && answer.reason !== expect.reason)
      throw new Error(`${context}: expected ${expect.label}, got reason ${answer.reason}`);
    this.entry(target, what, expect).prechecks++;
  }

  /** The counters `counted` compares against; null for comparison servers (no /metrics). */
  async snapshot(target: Target): Promise<Sample[] | null> {
    return target.adminUrl === null ? null : readMetrics(target.adminUrl);
  }

  /**
   * After a run: the decision counter grew by `completed`, give or take what was still in
   * flight when a timed run stopped (`inFlight`). With `freshTokens`, every one of them was
   * also a token-cache miss (verified, not served from the cache).
   */
  async counted(
    target: Target,
    before: Sample[] | null,
    expect: Expectation,
    what: string,
    completed: number,
    inFlight: number,
    freshTokens = false,
  ): Promise<void> {
    const entry = this.entry(target, what, expect);
    entry.runs++;
    entry.completed += completed;
    if (before === null || target.adminUrl === null || expect.decision === undefined) return;
    const after = await readMetrics(target.adminUrl);
    const labels = { decision: expect.decision, reason: expect.reason ?? '' };
    const grew = metricValue(after, 'authz_checks_total', labels) - metricValue(before, 'authz_checks_total', labels);
    const all = metricValue(after, 'authz_checks_total') - metricValue(before, 'authz_checks_total');
    const context = `${target.name} (${what})`;
    if (grew !== all) throw new Error(`${context}: ${all - grew} of ${all} checks were not "${expect.label}"`);
    if (grew < completed || grew > completed + inFlight) {
      throw new Error(`${context}: authz_checks_total{${expect.decision},${expect.reason}} grew by ${grew} for ${completed} completed requests`);
    }
    entry.counted += grew;
    if (freshTokens) {
      const misses = metricValue(after, 'authz_token_cache_total', { result: 'miss' }) - metricValue(before, 'authz_token_cache_total', { result: 'miss' });
      if (misses < completed) throw new Error(`${context}: only ${misses} token-cache misses for ${completed} fresh tokens`);
      entry.cacheMisses = (entry.cacheMisses ?? 0) + misses;
    }
  }

  /** One markdown bullet per target and body. */
  lines(): string[] {
    return [...this.entries]
      .map(([key, e]) => {
        const counted = e.counted > 0 ? `; /metrics authz_checks_total grew by ${e.counted.toLocaleString('en')} (all of that decision and reason)` : '';
        const misses = e.cacheMisses === null ? '' : `; token-cache misses +${e.cacheMisses.toLocaleString('en')} (every token verified)`;
        const runs = e.runs === 0 ? '' : `; ${e.runs} run(s), ${e.completed.toLocaleString('en')} requests completed`;
        return `- ${key}: ${e.prechecks} pre-check(s) ✔${runs}${counted}${misses}`;
      })
      .concat(this.notes);
  }

  get precheckCount(): number {
    return [...this.entries.values()].reduce((n, e) => n + e.prechecks, 0);
  }

  private entry(target: Target, what: string, expect: Expectation): Entry {
    const key = `${target.name}, ${what} → ${expect.label}`;
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { prechecks: 0, runs: 0, completed: 0, counted: 0, cacheMisses: null }));
    return entry;
  }
}
