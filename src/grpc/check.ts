import type { Logger } from 'pino';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import { type RequestView, RequestError } from '../request/index.js';
import { ANONYMOUS, type AuthContext, TokenError } from '../tokens/index.js';
import type { CompiledPolicy, Decision } from '../policy/index.js';
import { decisionId as newDecisionId } from './decision-id.js';
import { allowResponse, denyResponse, type DecisionMetadata, type DenyKind } from './response.js';
import type { IdentityHeaders } from './identity-headers.js';
import type { CheckMetrics, DecisionSink } from './check-sinks.js';

export interface CheckDependencies {
  readonly service: string;
  readonly buildView: (request: CheckRequest__Output) => RequestView;
  readonly authenticate: (view: RequestView) => AuthContext | Promise<AuthContext>;
  readonly policy: () => CompiledPolicy | null;
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
}

/** Lines allowed per one-second window; counts what it refused so the next line can say so. */
class LineBudget {
  private windowStart = 0;
  private used = 0;
  private refused = 0;

  constructor(private readonly perSecond: number) {}

  take(): boolean {
    if (this.perSecond === 0) return true;
    const now = Date.now();
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

export type CheckHandler = (request: CheckRequest__Output) => CheckResponse | Promise<CheckResponse>;

/**
 * How a policy deny is answered: with no identity at all it is 401 `credentials_missing`
 * (so clients know to authenticate), otherwise 403 with the policy's reason.
 */
export function policyDeny(decision: Decision, auth: AuthContext): { kind: DenyKind; reason: string } {
  return auth.user === null && auth.principal === null
    ? { kind: 'unauthenticated', reason: 'credentials_missing' }
    : { kind: 'forbidden', reason: decision.reason };
}

/**
 * CheckRequest → view → credentials → policy → CheckResponse. Never throws and never
 * allows on an error: every failure becomes a deny with a stable reason code.
 */
export function createCheckHandler(deps: CheckDependencies): CheckHandler {
  const { metrics, log } = deps;

  const audit = deps.decisionLog ?? null;
  const denyLog = new LineBudget(deps.denyLinesPerSecond ?? 0);
  const failOpenLog = new LineBudget(deps.denyLinesPerSecond ?? 0);
  const failOpenIssuers = deps.failOpenIssuers ?? new Set<string>();

  function finish(started: number, response: CheckResponse, meta: DecisionMetadata, requestId: string, view?: RequestView, auth?: AuthContext): CheckResponse {
    const allow = response.ok_response !== undefined;
    metrics.countCheck(allow ? 'allow' : 'deny', meta.reason);
    metrics.checkDuration.observe((performance.now() - started) / 1000);
    if (audit !== null && audit.wants(allow)) {
      audit.record({
        decision_id: meta.decisionId,
        request_id: requestId,
        at: new Date().toISOString(),
        decision: allow ? 'allow' : 'deny',
        reason: meta.reason,
        rule: meta.rule,
        policy_revision: meta.policyRevision,
        method: view?.method ?? '',
        host: view?.host ?? '',
        path: view?.path ?? '',
        subject: auth?.user?.subject ?? null,
        issuer: auth?.user?.issuer ?? null,
        principal: auth?.principal ?? null,
      });
    }
    return response;
  }

  function deny(started: number, meta: DecisionMetadata, requestId: string, kind: DenyKind, extra: { invalidToken?: boolean; missingScopes?: readonly string[]; path?: string; view?: RequestView; auth?: AuthContext } = {}): CheckResponse {
    if (denyLog.take()) {
      const suppressed = denyLog.suppressed();
      log.info({ decision_id: meta.decisionId, request_id: requestId, decision: 'deny', reason: meta.reason, rule: meta.rule, path: extra.path, ...(suppressed > 0 ? { suppressed } : {}) }, 'deny');
    }
    const response = denyResponse({ kind, reason: meta.reason, requestId, realm: deps.service, metadata: meta, invalidToken: extra.invalidToken, missingScopes: extra.missingScopes });
    return finish(started, response, meta, requestId, extra.view, extra.auth);
  }

  function decide(started: number, decisionId: string, view: RequestView, auth: AuthContext, policy: CompiledPolicy): CheckResponse {
    let decision: Decision;
    try {
      decision = policy.evaluate(view, auth);
    } catch (error) {
      return failed(started, decisionId, policy, view.id, error, view);
    }
    const meta: DecisionMetadata = { decisionId, policy: policy.name, policyRevision: policy.revision, rule: decision.rule, reason: decision.reason };
    if (!decision.allow) {
      const { kind, reason } = policyDeny(decision, auth);
      return deny(started, { ...meta, reason }, view.id, kind, { missingScopes: decision.missingScopes, path: view.path, view, auth });
    }
    if (deps.logAllows) log.info({ decision_id: decisionId, request_id: view.id, decision: 'allow', reason: decision.reason, rule: decision.rule, path: view.path }, 'allow');
    const headers = deps.identity.forCaller(auth);
    return finish(started, allowResponse({ caller: headers, metadata: meta }), meta, view.id, view, auth);
  }

  function failed(started: number, decisionId: string, policy: CompiledPolicy | null, requestId: string, error: unknown, view?: RequestView): CheckResponse {
    const meta = (reason: string): DecisionMetadata => ({ decisionId, policy: policy?.name ?? '', policyRevision: policy?.revision ?? '', rule: null, reason });
    if (error instanceof TokenError) {
      if (error.code !== 'keys_unavailable') return deny(started, meta(error.code), requestId, 'unauthenticated', { invalidToken: true, view });
      const issuer = error.issuerName ?? '';
      if (failOpenIssuers.has(issuer)) return failOpen(started, meta('fail_open'), requestId, 'issuer', issuer, error.code, view);
      if (policy?.failOpen === true) return failOpen(started, meta('fail_open'), requestId, 'policy', policy.name, error.code, view);
      return deny(started, meta(error.code), requestId, 'unavailable', { view });
    }
    if (error instanceof RequestError) return deny(started, meta(error.code), requestId, error.status === 431 ? 'headers_too_large' : 'bad_request');
    log.error({ decision_id: decisionId, request_id: requestId, err: error }, 'check failed');
    if (policy?.failOpen === true && view !== undefined) return failOpen(started, meta('fail_open'), requestId, 'policy', policy.name, 'internal_error', view);
    return deny(started, meta('internal_error'), requestId, 'internal', { view });
  }

  /**
   * An opt-in allow when the decision could not be made. No identity reaches the upstream:
   * every managed identity header is removed, as for an anonymous caller.
   */
  function failOpen(started: number, meta: DecisionMetadata, requestId: string, scope: 'issuer' | 'policy', name: string, cause: string, view?: RequestView): CheckResponse {
    metrics.failOpen.inc({ scope, name, cause });
    if (failOpenLog.take()) {
      const suppressed = failOpenLog.suppressed();
      log.warn({ decision_id: meta.decisionId, request_id: requestId, decision: 'allow', reason: meta.reason, scope, name, cause, path: view?.path, ...(suppressed > 0 ? { suppressed } : {}) }, 'fail-open allow');
    }
    const headers = deps.identity.forCaller(ANONYMOUS);
    return finish(started, allowResponse({ caller: headers, metadata: meta }), meta, requestId, view);
  }

  return function check(request: CheckRequest__Output): CheckResponse | Promise<CheckResponse> {
    const started = performance.now();
    const decisionId = newDecisionId();
    // One snapshot per Check: a policy swap mid-Check cannot mix two revisions.
    const policy = deps.policy();
    let view: RequestView;
    try {
      view = deps.buildView(request);
    } catch (error) {
      return failed(started, decisionId, policy, (error as { requestId?: string }).requestId ?? '', error);
    }
    if (policy === null) {
      const meta: DecisionMetadata = { decisionId, policy: '', policyRevision: '', rule: null, reason: 'not_ready' };
      return deny(started, meta, view.id, 'unavailable');
    }
    try {
      const auth = deps.authenticate(view);
      if (!(auth instanceof Promise)) return decide(started, decisionId, view, auth, policy);
      // catch after then: a failure while deciding is a deny too, not a rejected promise.
      return auth.then((resolved) => decide(started, decisionId, view, resolved, policy)).catch((error: unknown) => failed(started, decisionId, policy, view.id, error, view));
    } catch (error) {
      return failed(started, decisionId, policy, view.id, error, view);
    }
  };
}
