/**
 * Where the Check handler reports: counters and a duration (telemetry's Metrics implements
 * CheckMetrics) and an optional audit trail (control's DecisionLog implements DecisionSink).
 * Declared here, by the handler that calls them, so grpc/ needs neither of those folders:
 * main.ts plugs the implementations in.
 */

/** What the Check handler counts. Called on every Check: must not block. */
export interface CheckMetrics {
  /** `service` is the protected service decided for (a gateway's own name when the Check was refused before one was chosen). */
  countCheck(service: string, decision: 'allow' | 'deny', reason: string): void;
  readonly checkDuration: { observe(seconds: number): void };
  readonly failOpen: { inc(labels: { scope: 'issuer' | 'policy'; name: string; cause: string }): void };
}

/** One decision, as published for audit on `<prefix>.decisions.<service>`. */
export interface DecisionRecord {
  readonly decision_id: string;
  readonly request_id: string;
  /** The protected service decided for (a gateway's own name when the Check was refused before one was chosen). */
  readonly service: string;
  readonly at: string;
  readonly decision: 'allow' | 'deny';
  readonly reason: string;
  readonly rule: string | null;
  readonly policy_revision: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly subject: string | null;
  readonly issuer: string | null;
  readonly principal: string | null;
  /** Present when a shadow policy decided this Check the other way (or failed on it). */
  readonly shadow?: { readonly decision: 'allow' | 'deny' | 'error'; readonly reason: string; readonly rule: string | null };
}

/** Sampled allows and every deny. */
export interface DecisionSink {
  /** Whether this decision should be recorded at all (asked before the record is built). */
  wants(allow: boolean): boolean;
  /** Never blocks: it runs on the request path. */
  record(entry: DecisionRecord): void;
}
