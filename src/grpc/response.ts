import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import type { HeaderValueOption } from '../generated/envoy/config/core/v3/HeaderValueOption.js';
import type { Struct } from '../generated/google/protobuf/Struct.js';
import type { Value } from '../generated/google/protobuf/Value.js';
import type { OkHttpResponse } from '../generated/envoy/service/auth/v3/OkHttpResponse.js';
import type { CallerHeaders } from './identity-headers.js';
import { fixedOkResponse } from './wire/check-response.js';

/** gRPC status codes used in CheckResponse.status (google.rpc.Code). */
export const GrpcCode = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** What kind of "no" a deny is; decides the gRPC code, HTTP status and WWW-Authenticate. */
export type DenyKind = 'bad_request' | 'headers_too_large' | 'unauthenticated' | 'forbidden' | 'unavailable' | 'internal';

const DENY_STATUS: Record<DenyKind, { grpc: number; http: number; error: string }> = {
  bad_request: { grpc: GrpcCode.INVALID_ARGUMENT, http: 400, error: 'bad_request' },
  headers_too_large: { grpc: GrpcCode.INVALID_ARGUMENT, http: 431, error: 'bad_request' },
  unauthenticated: { grpc: GrpcCode.UNAUTHENTICATED, http: 401, error: 'unauthenticated' },
  forbidden: { grpc: GrpcCode.PERMISSION_DENIED, http: 403, error: 'forbidden' },
  unavailable: { grpc: GrpcCode.UNAVAILABLE, http: 503, error: 'unavailable' },
  internal: { grpc: GrpcCode.INTERNAL, http: 500, error: 'internal' },
};

export interface DecisionMetadata {
  readonly decisionId: string;
  readonly policy: string;
  readonly policyRevision: string;
  readonly rule: string | null;
  readonly reason: string;
}

export interface DenyOptions {
  readonly kind: DenyKind;
  readonly reason: string;
  readonly requestId: string;
  /** The `realm` for WWW-Authenticate (the service name). */
  readonly realm: string;
  /** 401 only: true when a credential was presented but failed (RFC 6750 `invalid_token`). */
  readonly invalidToken?: boolean;
  /** 403 only: scopes the caller lacked (RFC 6750 `insufficient_scope`). */
  readonly missingScopes?: readonly string[];
  readonly metadata: DecisionMetadata;
}

export function denyResponse(options: DenyOptions): CheckResponse {
  const status = DENY_STATUS[options.kind];
  const headers: HeaderValueOption[] = [overwrite('content-type', 'application/json')];
  const challenge = bearerChallenge(options);
  if (challenge !== null) headers.push(overwrite('www-authenticate', challenge));
  return {
    status: { code: status.grpc, message: options.reason },
    denied_response: {
      status: { code: status.http as never },
      headers,
      body: JSON.stringify({ error: status.error, reason: options.reason, request_id: options.requestId }),
    },
    dynamic_metadata: metadataStruct(options.metadata, false),
  };
}

/**
 * RFC 6750 §3: no error attribute when the request carried no credentials at all;
 * `invalid_token` when one was presented and failed; `insufficient_scope` with the scopes.
 */
function bearerChallenge(options: DenyOptions): string | null {
  const realm = `Bearer realm="${options.realm}"`;
  if (options.kind === 'unauthenticated') return options.invalidToken ? `${realm}, error="invalid_token"` : realm;
  if (options.kind === 'forbidden' && options.missingScopes && options.missingScopes.length > 0)
    return `${realm}, error="insufficient_scope", scope="${options.missingScopes.join(' ')}"`;
  return null;
}

export interface AllowOptions {
  /**
   * The caller's identity headers: `set` on the upstream request (overwriting any inbound
   * copy), `remove` the managed names not set this time, so a client cannot spoof them.
   * IdentityHeaders hands out one object per caller, so the OkHttpResponse is built per object.
   */
  readonly caller: CallerHeaders;
  readonly metadata: DecisionMetadata;
}

const OK_STATUS = Object.freeze({ code: GrpcCode.OK });
const okResponses = new WeakMap<CallerHeaders, OkHttpResponse>();

export function allowResponse(options: AllowOptions): CheckResponse {
  const { caller } = options;
  let ok = okResponses.get(caller);
  if (ok === undefined) {
    ok = fixedOkResponse({ headers: caller.set.map(([name, value]) => overwrite(name, value)), headers_to_remove: [...caller.remove] });
    okResponses.set(caller, ok);
  }
  return { status: OK_STATUS, ok_response: ok, dynamic_metadata: metadataStruct(options.metadata, true) };
}

function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

function str(value: string): Value {
  return { stringValue: value };
}

function metadataStruct(m: DecisionMetadata, allow: boolean): Struct {
  return {
    fields: {
      decision_id: str(m.decisionId),
      decision: str(allow ? 'allow' : 'deny'),
      reason: str(m.reason),
      policy: str(m.policy),
      policy_revision: str(m.policyRevision),
      rule: m.rule === null ? { nullValue: 'NULL_VALUE' } : str(m.rule),
    },
  };
}
