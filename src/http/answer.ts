import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import type { HeaderValueOption } from '../generated/envoy/config/core/v3/HeaderValueOption.js';
import type { Convention } from './route.js';

/** What the HTTP endpoint answers: the status, headers (lower-case names, one value each) and body. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** On every answer: the decision's reason code and id, for the proxy's access log (and the differential tests). */
export const REASON_HEADER = 'x-authz-reason';
export const DECISION_ID_HEADER = 'x-authz-decision-id';
/** nginx only, on a deny whose status nginx cannot pass on: the status the Check answered (400, 431, 500, 503). */
export const STATUS_HEADER = 'x-authz-status';
/** Envoy's http_service removes the headers this lists from the upstream request (the gRPC `headers_to_remove`). */
export const ENVOY_HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/**
 * nginx's auth_request passes 401 and 403 on and turns every other non-2xx status into a 500
 * of its own, without the body. So the nginx answer is 401 or 403 only: 401 stays 401 (its
 * WWW-Authenticate reaches the client, which nginx copies on 401), everything else a 403, with
 * the Check's status in x-authz-status and the reason in x-authz-reason and the body.
 */
function nginxStatus(status: number): number {
  return status === 401 ? 401 : 403;
}

/**
 * The CheckResponse as the convention's proxy expects it. Allow: 200, the identity headers to
 * set upstream (and for Envoy the managed ones to remove). Deny: the Check's status, headers and
 * JSON body (nginx: 401 or 403, see nginxStatus). Header values are UTF-8 on the wire.
 */
export function toHttpAnswer(response: CheckResponse, convention: Convention): HttpAnswer {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const fields = response.dynamic_metadata?.fields;
  headers[REASON_HEADER] = fields?.reason?.stringValue ?? '';
  headers[DECISION_ID_HEADER] = fields?.decision_id?.stringValue ?? '';
  const denied = response.denied_response;
  if (denied == null) {
    const ok = response.ok_response;
    copyHeaders(ok?.headers, headers);
    const remove = ok?.headers_to_remove ?? [];
    if (convention === 'envoy' && remove.length > 0) headers[ENVOY_HEADERS_TO_REMOVE] = remove.join(',');
    return { status: 200, headers, body: '' };
  }
  copyHeaders(denied.headers, headers);
  const status = httpStatus(denied.status?.code);
  if (convention !== 'nginx') return { status, headers, body: denied.body ?? '' };
  if (status !== 401 && status !== 403) headers[STATUS_HEADER] = String(status);
  return { status: nginxStatus(status), headers, body: denied.body ?? '' };
}

/** The deny's HTTP status; anything that is not a 4xx or 5xx number is answered 403, never a 2xx. */
function httpStatus(code: unknown): number {
  return typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599 ? code : 403;
}

function copyHeaders(options: readonly HeaderValueOption[] | null | undefined, into: Record<string, string>): void {
  for (const option of options ?? []) {
    const key = option.header?.key;
    if (!key) continue;
    into[key.toLowerCase()] = wireValue(option.header?.value ?? '');
  }
}

/**
 * node:http writes header strings as latin1 and refuses characters above U+00FF; a claim in
 * UTF-8 is sent as its bytes, which is what Envoy would have put on the upstream request.
 */
function wireValue(value: string): string {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7e) return Buffer.from(value, 'utf8').toString('latin1');
  return value;
}
