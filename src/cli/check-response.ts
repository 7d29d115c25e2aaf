/** A CheckResponse as `authzctl check` reports it: a verdict line plus details. */
import type { CheckResponse__Output } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import type { HeaderValueOption__Output } from '../generated/envoy/config/core/v3/HeaderValueOption.js';
import type { Value__Output } from '../generated/google/protobuf/Value.js';
import { HTTP_STATUS_CODES } from '../grpc/index.js';

/** What Envoy answers when a deny carries no HTTP status, by gRPC code. */
const HTTP_FOR_GRPC: Readonly<Record<number, number>> = { 3: 400, 7: 403, 14: 503, 16: 401 };

export interface CheckSummary {
  readonly allow: boolean;
  /** HTTP status Envoy would return (200 on allow). */
  readonly httpStatus: number;
  /** Stable reason code: the deny body's, else the metadata's, else the status message. */
  readonly reason: string;
  /** Allow: headers set upstream. Deny: headers on the deny response. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly headersToRemove: readonly string[];
  readonly body: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export function httpStatusOf(code: string | number | undefined): number | undefined {
  if (code === undefined) return undefined;
  // The client loads envoy.type.v3.StatusCode as its names.
  return typeof code === 'number' ? code : (HTTP_STATUS_CODES[code] ?? (/^\d+$/.test(code) ? Number(code) : undefined));
}

export function summarize(response: CheckResponse__Output): CheckSummary {
  const grpcCode = response.status?.code ?? 0;
  const allow = grpcCode === 0;
  const metadata = flatten(response.dynamic_metadata?.fields ?? {});
  if (allow) {
    const ok = response.ok_response;
    return {
      allow,
      httpStatus: 200,
      reason: metadata.reason ?? '',
      headers: pairs(ok?.headers),
      headersToRemove: ok?.headers_to_remove ?? [],
      body: '',
      metadata,
    };
  }
  const denied = response.denied_response;
  const body = denied?.body ?? '';
  return {
    allow,
    httpStatus: httpStatusOf(denied?.status?.code) ?? HTTP_FOR_GRPC[grpcCode] ?? 403,
    reason: bodyReason(body) ?? metadata.reason ?? response.status?.message ?? '',
    headers: pairs(denied?.headers),
    headersToRemove: [],
    body,
    metadata,
  };
}

/** `ALLOW` / `DENY 401 (token_expired)` and indented detail lines. */
export function formatSummary(summary: CheckSummary): string[] {
  const lines = [summary.allow ? 'ALLOW' : `DENY ${summary.httpStatus}${summary.reason ? ` (${summary.reason})` : ''}`];
  const verb = summary.allow ? 'set' : 'header';
  for (const [name, value] of summary.headers) lines.push(`  ${verb.padEnd(7)} ${name}: ${value}`);
  for (const name of summary.headersToRemove) lines.push(`  remove  ${name}`);
  if (summary.body) lines.push(`  body    ${summary.body}`);
  const m = summary.metadata;
  const fields: Array<[string, string | undefined]> = [
    ['decision', m.decision_id],
    ['policy', m.policy],
    ['revision', m.policy_revision],
    ['rule', m.rule],
    ['reason', m.reason],
  ];
  const shown = fields.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`);
  if (shown.length > 0) lines.push(`  meta    ${shown.join(' ')}`);
  return lines;
}

function pairs(options: HeaderValueOption__Output[] | undefined): Array<[string, string]> {
  return (options ?? []).map((o) => [o.header?.key ?? '', o.header?.value ?? o.header?.raw_value?.toString('latin1') ?? '']);
}

function bodyReason(body: string): string | undefined {
  try {
    const reason = (JSON.parse(body) as { reason?: unknown }).reason;
    return typeof reason === 'string' ? reason : undefined;
  } catch {
    return undefined;
  }
}

/** Struct → strings; null values become "-" so a missing rule is visible. */
function flatten(fields: Readonly<Record<string, Value__Output>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.numberValue !== undefined) out[key] = String(value.numberValue);
    else if (value.boolValue !== undefined) out[key] = String(value.boolValue);
    else if (value.nullValue !== undefined) out[key] = '-';
    else out[key] = JSON.stringify(value.structValue ?? value.listValue ?? null);
  }
  return out;
}
