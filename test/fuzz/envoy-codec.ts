/**
 * Envoy's own protos (from @grpc/grpc-js-xds) as a codec for the fuzzers: requests are
 * encoded the way Envoy would put them on the wire, and every answer the sidecar produces is
 * decoded and judged by Envoy's definition of a CheckResponse, not by the sidecar's.
 */
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { RequestErrorCode } from '../../src/request/errors.js';
import type { TokenErrorCode } from '../../src/tokens/errors.js';
import type { DecisionReason } from '../../src/policy/types.js';
import { ENVOY_PROTO_DIRS } from '../../testkit/paths.js';

const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };
const check = (loadPackageDefinition(loadSync('envoy/service/auth/v3/external_auth.proto', { ...OPTIONS, includeDirs: ENVOY_PROTO_DIRS })) as any).envoy.service
  .auth.v3.Authorization.service.Check as { requestSerialize(value: unknown): Buffer; responseDeserialize(bytes: Buffer): unknown };

/** A CheckRequest object (proto-loader shape, snake_case) → the bytes Envoy would send. */
export function encodeEnvoyRequest(request: unknown): Buffer {
  return check.requestSerialize(request);
}

/** Bytes → a CheckResponse as Envoy's protos read it (throws if they are not one). */
export function decodeEnvoyResponse(bytes: Buffer): EnvoyCheckResponse {
  return check.responseDeserialize(bytes) as EnvoyCheckResponse;
}

export interface EnvoyCheckResponse {
  status?: { code?: number; message?: string };
  http_response?: string;
  ok_response?: { headers?: Array<{ header?: { key?: string; value?: string } }>; headers_to_remove?: string[] };
  denied_response?: { status?: { code?: string | number }; headers?: Array<{ header?: { key?: string; value?: string } }>; body?: string };
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string; nullValue?: string; kind?: string }> };
}

/** Every stable reason code a deny may carry. */
const TOKEN_CODES: readonly TokenErrorCode[] = [
  'token_malformed',
  'token_too_large',
  'token_header_invalid',
  'token_algorithm_not_allowed',
  'token_crit_unsupported',
  'token_type_invalid',
  'token_key_unknown',
  'token_signature_invalid',
  'token_expired',
  'token_not_yet_valid',
  'token_issued_in_future',
  'token_claims_invalid',
  'token_issuer_invalid',
  'token_audience_invalid',
  'token_issuer_unknown',
  'credentials_duplicated',
  'credentials_malformed',
  'token_revoked',
  'api_key_malformed',
  'api_key_unknown',
  'api_key_expired',
  'token_inactive',
];
const REQUEST_CODES: readonly RequestErrorCode[] = [
  'malformed_request',
  'lowercase_method',
  'invalid_path',
  'path_traversal',
  'encoded_separator',
  'path_parameters',
  'double_encoded_path',
  'invalid_header',
  'too_many_headers',
  'header_too_large',
];
const POLICY_CODES: readonly DecisionReason[] = ['denied_by_rule', 'default_deny', 'missing_scope', 'missing_permission'];

/** gRPC code and HTTP status name (Envoy's envoy.type.v3.StatusCode) for each kind of deny. */
const DENY_SHAPES: Record<string, { grpc: number; http: string; reasons: readonly string[] }> = {
  bad_request: { grpc: 3, http: 'BadRequest', reasons: REQUEST_CODES.filter((c) => c !== 'too_many_headers' && c !== 'header_too_large') },
  headers_too_large: { grpc: 3, http: 'RequestHeaderFieldsTooLarge', reasons: ['too_many_headers', 'header_too_large'] },
  unauthenticated: { grpc: 16, http: 'Unauthorized', reasons: [...TOKEN_CODES, 'credentials_missing'] },
  forbidden: { grpc: 7, http: 'Forbidden', reasons: POLICY_CODES },
  unavailable: { grpc: 14, http: 'ServiceUnavailable', reasons: ['not_ready'] },
};
const ERROR_FOR_SHAPE: Record<string, string> = {
  bad_request: 'bad_request',
  headers_too_large: 'bad_request',
  unauthenticated: 'unauthenticated',
  forbidden: 'forbidden',
  unavailable: 'unavailable',
};

export interface Judged {
  readonly allow: boolean;
  /** The deny reason, or the allow's rule name. */
  readonly reason: string;
  readonly rule: string | null;
  readonly requestId: string;
}

/**
 * Checks `response` is a well-formed CheckResponse and returns what it decided. Throws an
 * Error naming the first problem. `internal_error` counts as malformed: it means an exception
 * escaped into the handler's last-resort branch, which no input should be able to cause.
 * `secrets` must not appear anywhere in a deny (body, headers, status message).
 */
export function judgeResponse(response: EnvoyCheckResponse, secrets: readonly string[] = []): Judged {
  const fail = (what: string): never => {
    throw new Error(`malformed CheckResponse: ${what}: ${JSON.stringify(response).slice(0, 600)}`);
  };
  const code = response.status?.code ?? 0;
  const fields = response.dynamic_metadata?.fields ?? {};
  const meta = (name: string): string | undefined => fields[name]?.stringValue;
  const ruleValue = fields.rule;
  const rule = ruleValue?.stringValue ?? null;
  if (ruleValue === undefined || (ruleValue.stringValue === undefined && ruleValue.nullValue !== 'NULL_VALUE'))
    fail('metadata rule is neither a string nor null');
  if (!meta('decision_id')?.match(/^[0-9a-f-]{36}$/)) fail('metadata decision_id is not a UUID');
  if (response.ok_response !== undefined && response.denied_response !== undefined) fail('both ok_response and denied_response');
  if (response.ok_response === undefined && response.denied_response === undefined) fail('neither ok_response nor denied_response');

  if (response.ok_response !== undefined) {
    if (response.http_response !== 'ok_response') fail('oneof marker is not ok_response');
    if (code !== 0) fail(`ok_response with gRPC code ${code}`);
    if (meta('decision') !== 'allow') fail('ok_response whose metadata decision is not allow');
    const reason = meta('reason');
    if (reason !== 'allowed_by_rule' && reason !== 'default_allow') fail(`allow reason ${reason}`);
    for (const option of response.ok_response.headers ?? []) {
      if (!option.header?.key?.match(/^[a-z0-9-]+$/)) fail('ok_response sets a header whose name is not lower-case token');
      if (/[\r\n\0]/.test(option.header?.value ?? '')) fail('ok_response sets a header value with CR, LF or NUL');
    }
    return { allow: true, reason: reason!, rule, requestId: '' };
  }

  const denied = response.denied_response!;
  if (response.http_response !== 'denied_response') fail('oneof marker is not denied_response');
  if (meta('decision') !== 'deny') fail('denied_response whose metadata decision is not deny');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(denied.body ?? '');
  } catch {
    return fail('deny body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Object.keys(body).sort().join(',') !== 'error,reason,request_id')
    fail('deny body is not {error, reason, request_id}');
  const { error, reason, request_id: requestId } = body as { error: unknown; reason: unknown; request_id: unknown };
  if (typeof reason !== 'string' || typeof requestId !== 'string') return fail('deny reason or request_id is not a string');
  if (reason === 'internal_error') fail("internal_error: an exception reached the handler's last resort");
  const shape = Object.entries(DENY_SHAPES).find(([, s]) => s.reasons.includes(reason));
  if (shape === undefined) return fail(`unknown deny reason ${reason}`);
  const [kind, { grpc, http }] = shape;
  if (code !== grpc) fail(`reason ${reason} with gRPC code ${code}, expected ${grpc}`);
  if (denied.status?.code !== http) fail(`reason ${reason} with HTTP status ${denied.status?.code}, expected ${http}`);
  if (error !== ERROR_FOR_SHAPE[kind]) fail(`reason ${reason} with error ${String(error)}`);
  if (response.status?.message !== reason) fail('gRPC status message is not the reason code');
  if (meta('reason') !== reason) fail('metadata reason differs from the body');
  const headers = denied.headers ?? [];
  if (!headers.some((h) => h.header?.key === 'content-type' && h.header.value === 'application/json')) fail('deny without content-type application/json');
  const challenge = headers.find((h) => h.header?.key === 'www-authenticate')?.header?.value;
  if (kind === 'unauthenticated' && !challenge?.startsWith('Bearer realm=')) fail('401 without a Bearer challenge');
  // request_id echoes the caller's own x-request-id (whatever it holds); the rest is the sidecar's text.
  const everything = `${error}\n${reason}\n${JSON.stringify(headers)}\n${response.status?.message ?? ''}`;
  for (const secret of secrets) if (secret.length >= 16 && everything.includes(secret)) fail('deny carries token text');
  return { allow: false, reason, rule, requestId };
}
