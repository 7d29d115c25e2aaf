/**
 * Deciding recorded Checks again under two policies, offline: the current one in the place
 * of the enforced policy, the new one in the place of a shadow, counted in the sidecar's
 * DivergenceTable exactly as a sidecar running the new policy as its shadow would count them.
 * A Check the sidecar would refuse before any policy (its request or its credentials) is
 * counted as not evaluated, never as a pair.
 */
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { IssuerConfig } from '../config/index.js';
import { DECISION_REASONS, DivergenceTable, type CompiledPolicy, type Decision, type DivergenceSample, type ShadowTotals } from '../policy/index.js';
import { REQUEST_ERROR_STATUS, RequestError, type RequestView } from '../request/index.js';
import { ANONYMOUS, TokenError, type AuthContext, type CredentialDecoder, type VerifiedToken } from '../tokens/index.js';
import type { DecisionLogRequest } from './recorded-checks.js';

/** Why a Check never reached a policy: its credentials or request refused, or no policy decided it (decision-log reasons only). */
export type NotEvaluatedKind = 'credentialsRefused' | 'requestRefused' | 'notDecided';

/** Checks refused before any policy, by kind, each as counts by reason code (`{ token_malformed: 2 }`). */
export interface NotEvaluated {
  readonly total: number;
  readonly credentialsRefused: Readonly<Record<string, number>>;
  readonly requestRefused: Readonly<Record<string, number>>;
  readonly notDecided: Readonly<Record<string, number>>;
}

export interface ReplayOptions {
  readonly current: CompiledPolicy;
  readonly next: CompiledPolicy;
  /** The sidecar's own CheckRequest → RequestView (with its config's request limits). */
  readonly buildView: (request: CheckRequest__Output) => RequestView;
  readonly credentials: CredentialDecoder;
  /** The config's issuers: a decision-log record names its token's `iss`, the identity also carries the issuer's name. */
  readonly issuers: readonly IssuerConfig[];
  /** Sample timestamps (tests). */
  readonly now?: () => Date;
}

/** Reasons a decision-log record has when a policy decided it (`credentials_missing` is a policy deny answered 401). */
const POLICY_REASONS: ReadonlySet<string> = new Set([...DECISION_REASONS, 'credentials_missing']);
/** Reasons the sidecar records when no policy decided: none loaded, a failure, an opted-in fail-open. */
const NOT_DECIDED_REASONS: ReadonlySet<string> = new Set(['not_ready', 'internal_error', 'fail_open']);

export class Replay {
  /** Every pair kept: offline there is no fleet of sidecars to bound memory for. */
  readonly table = new DivergenceTable(Infinity);
  /** Checks replayed from decision-log records, with the little identity those hold. */
  fromDecisionLog = 0;
  readonly #notEvaluated: Record<NotEvaluatedKind, Map<string, number>> = { credentialsRefused: new Map(), requestRefused: new Map(), notDecided: new Map() };
  readonly #options: ReplayOptions;

  constructor(options: ReplayOptions) {
    this.#options = options;
  }

  /** A recorded CheckRequest, through the sidecar's request view and its token sources and checks. */
  checkRequest(request: CheckRequest__Output): void {
    let view: RequestView;
    try {
      view = this.#options.buildView(request);
    } catch (error) {
      if (error instanceof RequestError) return this.#refused('requestRefused', error.code);
      throw error;
    }
    let auth: AuthContext;
    try {
      auth = this.#options.credentials.decode(view);
    } catch (error) {
      if (error instanceof TokenError) return this.#refused('credentialsRefused', error.code);
      throw error;
    }
    this.#decide(view, auth);
  }

  /**
   * A decision-log record: a view of its method, host and path, and a caller of its subject,
   * issuer and principal only (no claims, scopes, headers). A record whose reason says no
   * policy decided it is not evaluated.
   */
  decisionRecord(record: DecisionLogRequest): void {
    if (!POLICY_REASONS.has(record.reason)) return this.#refused(kindOfReason(record.reason), record.reason);
    let view: RequestView;
    try {
      view = this.#options.buildView(minimalRequest(record));
    } catch (error) {
      if (error instanceof RequestError) return this.#refused('requestRefused', error.code);
      throw error;
    }
    this.fromDecisionLog++;
    this.#decide(view, this.#identityOf(record));
  }

  get notEvaluated(): NotEvaluated {
    const byReason = (counts: Map<string, number>) => Object.fromEntries([...counts].sort(([a, m], [b, n]) => n - m || (a < b ? -1 : 1)));
    const { credentialsRefused, requestRefused, notDecided } = this.#notEvaluated;
    let total = 0;
    for (const counts of [credentialsRefused, requestRefused, notDecided]) for (const n of counts.values()) total += n;
    return { total, credentialsRefused: byReason(credentialsRefused), requestRefused: byReason(requestRefused), notDecided: byReason(notDecided) };
  }

  /** The table and its counts, with the new policy's `when` failures counted by the caller (its compile option). */
  totals(conditionErrors: number): ShadowTotals {
    const { table } = this;
    return { table, evaluated: table.evaluated, divergent: table.divergent, errors: table.errors, conditionErrors, overflow: table.overflow };
  }

  /** As a sidecar with a shadow: the enforced decision, then the shadow's (null when it threw). */
  #decide(view: RequestView, auth: AuthContext): void {
    let enforced: Decision;
    try {
      enforced = this.#options.current.evaluate(view, auth);
    } catch {
      // The sidecar would answer internal_error: no decision to compare with.
      return this.#refused('notDecided', 'internal_error');
    }
    let shadow: Decision | null;
    try {
      shadow = this.#options.next.evaluate(view, auth);
    } catch {
      shadow = null;
    }
    this.table.record(enforced, shadow, () => this.#sample(view, auth));
  }

  #sample(view: RequestView, auth: AuthContext): DivergenceSample {
    const subject = auth.user !== null && auth.user.subject !== '' ? auth.user.subject : auth.principal;
    return { requestId: view.id, method: view.method, path: view.path, subject, at: (this.#options.now?.() ?? new Date()).toISOString() };
  }

  #identityOf(record: DecisionLogRequest): AuthContext {
    const { subject, issuer, principal } = record;
    if (issuer === null && principal === null) return ANONYMOUS;
    const user: VerifiedToken | null =
      issuer === null
        ? null
        : Object.freeze({
            issuerName: this.#options.issuers.find((i) => i.issuer === issuer)?.name ?? '',
            issuer,
            subject: subject ?? '',
            audience: Object.freeze([]),
            jti: undefined,
            expiresAt: 0,
            scopes: Object.freeze([]),
            claims: Object.freeze({}),
          });
    return Object.freeze({ user, service: null, principal });
  }

  #refused(kind: NotEvaluatedKind, reason: string): void {
    const counts = this.#notEvaluated[kind];
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
}

function kindOfReason(reason: string): NotEvaluatedKind {
  if (Object.hasOwn(REQUEST_ERROR_STATUS, reason)) return 'requestRefused';
  if (NOT_DECIDED_REASONS.has(reason)) return 'notDecided';
  return 'credentialsRefused';
}

/** The request a record describes, as Envoy would send its method, host and path; its request id as the stream id. */
function minimalRequest(record: DecisionLogRequest): CheckRequest__Output {
  const { request_id: id, method, host, path } = record;
  return { attributes: { request: { http: { id, method, host, path, headers: {} } } } };
}
