/**
 * Micro-benchmark of CompiledPolicy.evaluate, run as its own process by
 * scenarios/policy-eval.ts: the benchmark's request, decoded with the sidecar's protos into
 * the sidecar's request view, evaluated against each policy with the caller's token taken as
 * verified. Each call is timed on its own (process.hrtime.bigint) after a warm-up; prints one
 * JSON line with p50/p99/max per policy, in µs.
 *
 * argv[2]: JSON { policies: [{ label, rules, when? }], calls, warmup }
 */
import { loadAuthProto } from '../../src/grpc/protos.js';
import { compilePolicyText } from '../../src/policy/index.js';
import { buildRequestView } from '../../src/request/index.js';
import type { AuthContext, VerifiedToken } from '../../src/tokens/types.js';
import { policyText } from '../policies/generate.js';
import { checkRequestMessage } from '../request.js';
import { spread } from '../stats.js';
import { minterFor } from '../../testkit/tokens.js';

export interface MicroInput {
  readonly policies: ReadonlyArray<{ label: string; rules: number; when?: string }>;
  readonly calls: number;
  readonly warmup: number;
}

export interface MicroResult {
  readonly label: string;
  readonly rules: number;
  readonly compileMs: number;
  readonly decision: string;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as MicroInput;

const token = minterFor().mint();
const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
const user: VerifiedToken = Object.freeze({
  issuerName: 'idp',
  issuer: String(claims.iss),
  subject: String(claims.sub),
  audience: [String(claims.aud)],
  jti: String(claims.jti),
  expiresAt: Number(claims.exp),
  scopes: String(claims.scope).split(' '),
  claims: Object.freeze(claims),
});
const auth: AuthContext = Object.freeze({ user, service: null, principal: null });
const decode = loadAuthProto().envoy.service.auth.v3.Authorization.service.Check.requestDeserialize;
const view = buildRequestView(decode(checkRequestMessage({ token })));

const results: MicroResult[] = [];
for (const policy of input.policies) {
  const text = policyText({ rules: policy.rules, when: policy.when });
  const compileStarted = performance.now();
  const compiled = compilePolicyText(text, `${policy.label}.yaml`, { revision: policy.label });
  const compileMs = performance.now() - compileStarted;
  const decision = compiled.evaluate(view, auth);
  for (let i = 0; i < input.warmup; i++) compiled.evaluate(view, auth);
  const samples = new Float64Array(input.calls);
  let total = 0n;
  for (let i = 0; i < input.calls; i++) {
    const started = process.hrtime.bigint();
    compiled.evaluate(view, auth);
    const elapsed = process.hrtime.bigint() - started;
    total += elapsed;
    samples[i] = Number(elapsed) / 1000;
  }
  const s = spread(samples);
  results.push({
    label: policy.label,
    rules: compiled.ruleCount,
    compileMs,
    decision: `${decision.allow ? 'allow' : 'deny'} ${decision.reason} ${decision.rule ?? ''}`.trim(),
    p50Us: s.p50,
    p99Us: s.p99,
    maxUs: s.max,
    meanUs: Number(total) / 1000 / input.calls,
  });
}
process.stdout.write(`${JSON.stringify(results)}\n`);
