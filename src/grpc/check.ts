import type { Logger } from 'pino';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import { type RequestView, RequestError } from '../request/index.js';
import { ANONYMOUS, type AuthContext, TokenError } from '../tokens/index.js';
import type { CompiledPolicy, Decision, PolicyUsage, ShadowPolicy, ShadowVerdict } from '../policy/index.js';
import { decisionId as newDecisionId } from './decision-id.js';
import { allowResponse, denyResponse, type DecisionMetadata, type DenyKind } from './response.js';
import type { IdentityHeaders } from './identity-headers.js';
import type { CheckMetrics, DecisionRecord, DecisionSink } from './check-sinks.js';

/** Time as the Check handler reads it; tests pass their own. */
export interface Clock {
  /** Monotonic milliseconds, for durations. */
  monotonicMs(): number;
  /** Epoch milliseconds, for timestamps and per-second budgets. */
  epochMs(): number;
}

export const SYSTEM_CLOCK: Clock = { monotonicMs: () => performance.now(), epochMs: () => Date.now() };

/** A service a Check can be for: its policy in force, and what watches its decisions. */
export interface CheckTarget {
  readonly name: string;
  readonly policies: { current(): CompiledPolicy | null };
  /** Counts the rules, grants and scopes the enforced policy decided with (policy/usage.ts). */
  readonly usage?: Pick<PolicyUsage, 'record'>;
  /** The shadow policy, evaluated after the enforced decision; it never changes the answer (policy/shadow.ts). */
  readonly shadow?: Pick<ShadowPolicy, 'observe'>;
}

export interface CheckDependencies {
  /** The sidecar's own name: the protected service, or a gateway's name (for Checks refused before a service is chosen). */
  readonly service: string;
  readonly buildView: (request: CheckRequest__Output) => RequestView;
  readonly authenticate: (view: RequestView) => AuthContext | Promise<AuthContext>;
  /** The service a Check is for (policy/services.ts ServiceTable); null: none, the Check is denied `unknown_service`. */
  readonly services: { select(view: RequestView): CheckTarget | null };
  readonly identity: IdentityHeaders;
  readonly metrics: CheckMetrics;
  readonly log: Logger;
  readonly logAllows: boolean;
  /** Cap on deny log lines per second; 0 = no cap. A flood of denies must not become a flood of writes. */
  readonly denyLinesPerSecond?: number;
  /** Issuers (config names; "service" for service tokens) with `failOpen: true`. */
  readonly failOpenIssuers?: ReadonlySet<string>;
  /** Optional audit trail (sampled allows, every deny); `record` never blocks. */
  readonly decisionLog?: DecisionSink | null;
  readonly clock?: Clock;
}

/** Lines allowed per one-second window; counts what it refused so the next line can say so. */
class LineBudget {
  private windowStart = -Infinity;
  private used = 0;
  private refused = 0;

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {}

  take(): boolean {
    if (this.perSecond === 0) return true;
    const now = this.clock.epochMs();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.perSecond) {
      this.used++;
      return true;
    }
    this.refused++;
    return false;
  }

  /** Lines refused since the last call. */
  suppressed(): number {
    const n = this.refused;
    this.refused = 0;
    return n;
  }
}

/** Divergent Checks logged, and recorded beyond the decision log's own sampling, per second. */
export const SHADOW_RECORDS_PER_SECOND = 20;

export type CheckHandler = (request: CheckRequest__Output) => CheckResponse | Promise<CheckResponse>;

/**
 * How a policy deny is answered: 403 with the policy's reason, except for a caller with no
 * identity at all whom signing in could help: 401 `credentials_missing`, so clients know to
 * authenticate. A DENY rule that looks at no identity denies everyone: 403 `denied_by_rule`.
 */
export function policyDeny(decision: Decision, auth: AuthContext): { kind: DenyKind; reason: string } {
  return auth.user === null && auth.principal === null && !decision.callerIndependent
    ? { kind: 'unauthenticated', reason: 'credentials_missing' }
    : { kind: 'forbidden', reason: decision.reason };
}

/** One Check's state, filled in as it moves along the request path. */
interface CheckContext {
  readonly started: number;
  readonly decisionId: string;
  /** The service decided for; null until chosen (and when none is). */
  service: CheckTarget | null;
  /** One snapshot per Check, taken when its service is chosen: a policy swap mid-Check cannot mix two revisions. */
  policy: CompiledPolicy | null;
  requestId: string;
  view?: RequestView;
  auth?: AuthContext;
  /** Set when a shadow policy decided this Check the other way. */
  shadow?: ShadowVerdict | null;
}

/** What the Check decided, before it becomes a CheckResponse. */
type Outcome =
  | { readonly type: 'allow'; readonly reason: string; readonly rule: string | null }
  | {
      readonly type: 'deny';
      readonly reason: string;
      readonly rule?: string | null;
      readonly kind: DenyKind;
      readonly invalidToken?: boolean;
      readonly missingScopes?: readonly string[];
    }
  | { readonly type: 'fail-open'; readonly scope: 'issuer' | 'policy'; readonly name: string; readonly cause: string };

/**
 * CheckRequest → view → credentials → policy → CheckResponse. Never throws and never
 * allows on an error: every failure becomes a deny with a stable reason code.
 */
export function createCheckHandler(deps: CheckDependencies): CheckHandler {
  const { metrics, log } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const audit = deps.decisionLog ?? null;
  const denyLog = new LineBudget(deps.denyLinesPerSecond ?? 0, clock);
  const failOpenLog = new LineBudget(deps.denyLinesPerSecond ?? 0, clock);
  const shadowRecords = new LineBudget(SHADOW_RECORDS_PER_SECOND, clock);
  const shadowLog = new LineBudget(SHADOW_RECORDS_PER_SECOND, clock);
  const failOpenIssuers = deps.failOpenIssuers ?? new Set<string>();

  /** The one place an outcome becomes an answer: its log line, response, metrics and audit record. */
  function respond(ctx: CheckContext, outcome: Outcome): CheckResponse {
    const reason = outcome.type === 'fail-open' ? 'fail_open' : outcome.reason;
    const rule = outcome.type === 'fail-open' ? null : (outcome.rule ?? null);
    const service = ctx.service?.name ?? deps.service;
    const meta: DecisionMetadata = { decisionId: ctx.decisionId, policy: ctx.policy?.name ?? '', policyRevision: ctx.policy?.revision ?? '', rule, reason };
    // Built only when a line is written: most Checks log nothing.
    const line = () => ({
      decision_id: ctx.decisionId,
      request_id: ctx.requestId,
      protected_service: service,
      reason,
      rule,
      method: ctx.view?.method,
      path: ctx.view?.path,
    });
    let response: CheckResponse;
    if (outcome.type === 'deny') {
      if (denyLog.take()) log.info({ ...line(), decision: 'deny', ...suppressed(denyLog) }, 'deny');
      response = denyResponse({
        kind: outcome.kind,
        reason,
        requestId: ctx.requestId,
        realm: service,
        metadata: meta,
        invalidToken: outcome.invalidToken,
        missingScopes: outcome.missingScopes,
      });
    } else if (outcome.type === 'allow') {
      if (deps.logAllows) log.info({ ...line(), decision: 'allow' }, 'allow');
      response = allowResponse({ caller: deps.identity.forCaller(ctx.auth!), metadata: meta });
    } else {
      // An opt-in allow when the decision could not be made: no identity reaches the upstream,
      // every managed identity header is removed, as for an anonymous caller.
      const { scope, name, cause } = outcome;
      metrics.failOpen.inc({ scope, name, cause });
      if (failOpenLog.take()) log.warn({ ...line(), decision: 'allow', scope, name, cause, ...suppressed(failOpenLog) }, 'fail-open allow');
      response = allowResponse({ caller: deps.identity.forCaller(ANONYMOUS), metadata: meta });
    }
    const allow = outcome.type !== 'deny';
    metrics.countCheck(service, allow ? 'allow' : 'deny', reason);
    metrics.checkDuration.observe((clock.monotonicMs() - ctx.started) / 1000);
    // A Check the shadow decides the other way is logged, and recorded even when it would not
    // be sampled, within a budget per second.
    const diverged = ctx.shadow != null;
    const shadow = diverged ? shadowFields(ctx.shadow!.decision) : undefined;
    if (shadow !== undefined && shadowLog.take())
      log.info({ ...line(), decision: allow ? 'allow' : 'deny', shadow, ...suppressed(shadowLog) }, 'shadow diverged');
    if (audit !== null && (audit.wants(allow) || (diverged && shadowRecords.take()))) {
      const { view, auth } = ctx;
      audit.record({
        decision_id: ctx.decisionId,
        request_id: ctx.requestId,
        service,
        at: new Date(clock.epochMs()).toISOString(),
        decision: allow ? 'allow' : 'deny',
        reason,
        rule,
        policy_revision: meta.policyRevision,
        method: view?.method ?? '',
        host: view?.host ?? '',
        path: view?.path ?? '',
        subject: auth?.user?.subject ?? null,
        issuer: auth?.user?.issuer ?? null,
        principal: auth?.principal ?? null,
        ...(shadow !== undefined && { shadow }),
      });
    }
    return response;
  }

  /** The policy's decision for an authenticated (or anonymous) caller. */
  function decide(ctx: CheckContext, policy: CompiledPolicy, auth: AuthContext): CheckResponse {
    ctx.auth = auth;
    let decision: Decision;
    try {
      decision = policy.evaluate(ctx.view!, auth);
    } catch (error) {
      return failed(ctx, error);
    }
    try {
      const { usage, shadow } = ctx.service!;
      usage?.record(policy, decision, auth);
      if (shadow !== undefined) ctx.shadow = shadow.observe(ctx.view!, auth, decision);
    } catch (error) {
      // Counting and the shadow never change an answer, even through a bug of their own.
      if (shadowLog.take()) log.error({ decision_id: ctx.decisionId, err: error }, 'usage or shadow accounting failed');
    }
    if (decision.allow) return respond(ctx, { type: 'allow', reason: decision.reason, rule: decision.rule });
    const { kind, reason } = policyDeny(decision, auth);
    return respond(ctx, { type: 'deny', kind, reason, rule: decision.rule, missingScopes: decision.missingScopes });
  }

  /** A failure anywhere on the path: a deny with its reason code, or an opted-in fail-open. */
  function failed(ctx: CheckContext, error: unknown): CheckResponse {
    const { policy, view } = ctx;
    if (error instanceof TokenError) {
      if (error.code !== 'keys_unavailable') return respond(ctx, { type: 'deny', kind: 'unauthenticated', reason: error.code, invalidToken: true });
      const issuer = error.issuerName ?? '';
      if (failOpenIssuers.has(issuer)) return respond(ctx, { type: 'fail-open', scope: 'issuer', name: issuer, cause: error.code });
      if (policy?.failOpen === true) return respond(ctx, { type: 'fail-open', scope: 'policy', name: policy.name, cause: error.code });
      return respond(ctx, { type: 'deny', kind: 'unavailable', reason: error.code });
    }
    if (error instanceof RequestError)
      return respond(ctx, { type: 'deny', kind: error.status === 431 ? 'headers_too_large' : 'bad_request', reason: error.code });
    log.error({ decision_id: ctx.decisionId, request_id: ctx.requestId, err: error }, 'check failed');
    if (policy?.failOpen === true && view !== undefined)
      return respond(ctx, { type: 'fail-open', scope: 'policy', name: policy.name, cause: 'internal_error' });
    return respond(ctx, { type: 'deny', kind: 'internal', reason: 'internal_error' });
  }

  return function check(request: CheckRequest__Output): CheckResponse | Promise<CheckResponse> {
    const ctx: CheckContext = { started: clock.monotonicMs(), decisionId: newDecisionId(), service: null, policy: null, requestId: '' };
    try {
      ctx.view = deps.buildView(request);
    } catch (error) {
      ctx.requestId = (error as { requestId?: string }).requestId ?? '';
      return failed(ctx, error);
    }
    ctx.requestId = ctx.view.id;
    const service = deps.services.select(ctx.view);
    if (service === null) return respond(ctx, { type: 'deny', kind: 'forbidden', reason: 'unknown_service' });
    ctx.service = service;
    const policy = (ctx.policy = service.policies.current());
    if (policy === null) return respond(ctx, { type: 'deny', kind: 'unavailable', reason: 'not_ready' });
    try {
      const auth = deps.authenticate(ctx.view);
      if (!(auth instanceof Promise)) return decide(ctx, policy, auth);
      // catch after then: a failure while deciding is a deny too, not a rejected promise.
      return auth.then((resolved) => decide(ctx, policy, resolved)).catch((error: unknown) => failed(ctx, error));
    } catch (error) {
      return failed(ctx, error);
    }
  };
}

/** The shadow's side of a divergent Check, for its log line and decision record. */
function shadowFields(decision: Decision | null): NonNullable<DecisionRecord['shadow']> {
  if (decision === null) return { decision: 'error', reason: 'internal_error', rule: null };
  return { decision: decision.allow ? 'allow' : 'deny', reason: decision.reason, rule: decision.rule };
}

/** The `suppressed` field of the next line a budget lets through, when it refused some. */
function suppressed(budget: LineBudget): { suppressed?: number } {
  const n = budget.suppressed();
  return n > 0 ? { suppressed: n } : {};
}
