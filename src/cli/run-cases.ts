/**
 * Evaluating policy test cases offline with the sidecar's own pipeline pieces:
 * CheckRequest → buildRequestView → CompiledPolicy.evaluate → deny kind and status.
 */
import { policyDeny, denyResponse } from '../grpc/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import { buildRequestView, RequestError, type RequestView } from '../request/index.js';
import type { AuthContext, VerifiedToken } from '../tokens/index.js';
import type { CaseAuth, CaseExpectation, PolicyCase } from './cases.js';
import { httpStatusOf } from './check-response.js';
import { scopesOf } from './claims.js';
import { buildCheckRequest } from './envoy-request.js';

export interface CaseOutcome {
  readonly decision: 'allow' | 'deny';
  /** 200 on allow. */
  readonly status: number;
  readonly reason: string;
  readonly rule: string | null;
}

export interface CaseResult {
  readonly name: string;
  readonly pass: boolean;
  readonly expected: CaseExpectation;
  readonly actual: CaseOutcome;
  /** `when` conditions that failed to evaluate during this case ("rule: message"). */
  readonly conditionErrors: readonly string[];
}

/** A token as the verifier would have produced it, without a signature. */
function verifiedToken(
  issuerName: string,
  issuer: string,
  subject: string | undefined,
  audience: string | string[] | undefined,
  claims: Record<string, unknown> = {},
): VerifiedToken {
  const payload: Record<string, unknown> = { ...claims, iss: issuer };
  if (subject !== undefined) payload.sub = subject;
  if (audience !== undefined) payload.aud = audience;
  payload.exp ??= Math.floor(Date.now() / 1000) + 900;
  const aud = payload.aud;
  return Object.freeze({
    issuerName,
    issuer,
    subject: typeof payload.sub === 'string' ? payload.sub : '',
    audience: Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : typeof aud === 'string' ? [aud] : [],
    jti: typeof payload.jti === 'string' ? payload.jti : undefined,
    expiresAt: typeof payload.exp === 'number' ? payload.exp : 0,
    scopes: Object.freeze(scopesOf(payload)),
    claims: Object.freeze(payload),
  });
}

/** The AuthContext the sidecar would build for this caller; anonymous when `auth` is absent. */
export function authContextOf(auth: CaseAuth | undefined): AuthContext {
  if (auth === undefined) return { user: null, service: null, principal: null };
  const user = auth.issuer === undefined ? null : verifiedToken(auth.issuer, auth.issuer, auth.subject, auth.audience, auth.claims);
  const st = auth.serviceToken;
  const service = st === undefined ? null : verifiedToken('service', st.issuer ?? '', st.subject, undefined, st.claims);
  // As in the sidecar: the service token's subject, else the mTLS peer.
  return { user, service, principal: st?.subject ?? auth.principal ?? null };
}

export function evaluateCase(policy: CompiledPolicy, c: PolicyCase): CaseOutcome {
  const request = buildCheckRequest({
    method: c.request.method,
    path: c.request.path,
    host: c.request.host,
    headers: c.request.headers,
    principal: c.auth?.principal,
    context: c.request.context,
  });
  let view: RequestView;
  try {
    view = buildRequestView(request);
  } catch (error) {
    if (error instanceof RequestError) return { decision: 'deny', status: error.status, reason: error.code, rule: null };
    throw error;
  }
  const auth = authContextOf(c.auth);
  const decision = policy.evaluate(view, auth);
  if (decision.allow) return { decision: 'allow', status: 200, reason: decision.reason, rule: decision.rule };
  const { kind, reason } = policyDeny(decision, auth);
  const response = denyResponse({
    kind,
    reason,
    requestId: view.id,
    realm: policy.service,
    missingScopes: decision.missingScopes,
    metadata: { decisionId: '', policy: policy.name, policyRevision: policy.revision, rule: decision.rule, reason },
  });
  return { decision: 'deny', status: httpStatusOf(response.denied_response?.status?.code) ?? 403, reason, rule: decision.rule };
}

/** Which expected fields differ, as "field" names; empty when the case passes. */
export function mismatches(expected: CaseExpectation, actual: CaseOutcome): string[] {
  const out: string[] = [];
  if (expected.decision !== actual.decision) out.push('decision');
  if (expected.status !== undefined && expected.status !== actual.status) out.push('status');
  if (expected.reason !== undefined && expected.reason !== actual.reason) out.push('reason');
  if (expected.rule !== undefined && expected.rule !== actual.rule) out.push('rule');
  return out;
}

/**
 * Runs every case. `conditionErrors` is the sink the policy's `onConditionError` writes to;
 * it is drained per case so each result lists only its own.
 */
export function runCases(policy: CompiledPolicy, cases: readonly PolicyCase[], conditionErrors: string[] = []): CaseResult[] {
  return cases.map((c) => {
    conditionErrors.length = 0;
    const actual = evaluateCase(policy, c);
    return { name: c.name, pass: mismatches(c.expect, actual).length === 0, expected: c.expect, actual, conditionErrors: [...conditionErrors] };
  });
}

export function describeExpected(e: CaseExpectation): string {
  const parts: string[] = [e.decision];
  if (e.status !== undefined) parts.push(String(e.status));
  if (e.reason !== undefined) parts.push(e.reason);
  if (e.rule !== undefined) parts.push(`(rule ${e.rule ?? 'none'})`);
  return parts.join(' ');
}

export function describeOutcome(o: CaseOutcome): string {
  const parts: string[] = o.decision === 'allow' ? ['allow', o.reason] : ['deny', String(o.status), o.reason];
  parts.push(`(rule ${o.rule ?? 'none'})`);
  return parts.join(' ');
}

/** One line per case, then a summary line. */
export function formatResults(results: readonly CaseResult[]): string[] {
  const lines = results.map((r) => {
    if (r.pass) return `PASS ${r.name}`;
    const notes = r.conditionErrors.map((e) => `; condition error in ${e}`).join('');
    return `FAIL ${r.name}: expected ${describeExpected(r.expected)}, got ${describeOutcome(r.actual)}${notes}`;
  });
  const failed = results.filter((r) => !r.pass).length;
  lines.push(`${results.length} cases: ${results.length - failed} passed, ${failed} failed`);
  return lines;
}
