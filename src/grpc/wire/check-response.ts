import type { CheckResponse } from '../../generated/envoy/service/auth/v3/CheckResponse.js';
import type { DeniedHttpResponse } from '../../generated/envoy/service/auth/v3/DeniedHttpResponse.js';
import type { OkHttpResponse } from '../../generated/envoy/service/auth/v3/OkHttpResponse.js';
import type { HeaderValueOption } from '../../generated/envoy/config/core/v3/HeaderValueOption.js';
import type { QueryParameter } from '../../generated/envoy/config/core/v3/QueryParameter.js';
import type { Status } from '../../generated/google/rpc/Status.js';
import type { Struct } from '../../generated/google/protobuf/Struct.js';
import type { Value } from '../../generated/google/protobuf/Value.js';
import type { ListValue } from '../../generated/google/protobuf/ListValue.js';
import { deepFreeze } from '../../shared/index.js';
import { encodeMessage, type WireWriter } from './writer.js';

/**
 * Encodes a CheckResponse by hand, byte for byte as @grpc/proto-loader (protobufjs) would
 * from the same object: fields in field-number order, a field written whenever it is set
 * (not null/undefined) — a set `0` or `''` included, as protobufjs does — and empty repeated
 * fields and maps left out. Enums take their name or number.
 *
 * Two deliberate differences, both for input response.ts never builds: a string with a lone
 * surrogate is written as valid UTF-8 (U+FFFD) where protobufjs writes the surrogate's
 * invalid 3-byte form for strings under 40 units; and an unknown enum name, a non-object
 * where a message belongs or a `google.rpc.Status.details` entry is a TypeError (a bug in the
 * caller; grpc-js answers that call INTERNAL) where protobufjs drops or throws on some of them.
 */
export function encodeCheckResponse(response: CheckResponse): Buffer {
  return encodeMessage(response, checkResponse);
}

/** OkHttpResponse messages encoded once, by fixedOkResponse. */
const fixedOk = new WeakMap<OkHttpResponse, Buffer>();

/**
 * Declares an OkHttpResponse that will be sent many times (one per caller identity): it is
 * deep-frozen and encoded here once, and every CheckResponse carrying this very object copies
 * those bytes instead of encoding it again. Freezing is what makes the copy safe.
 */
export function fixedOkResponse(m: OkHttpResponse): OkHttpResponse {
  deepFreeze(m);
  fixedOk.set(m, encodeMessage(m, okResponse));
  return m;
}

function checkResponse(w: WireWriter, m: CheckResponse): void {
  message(m, 'CheckResponse');
  if (m.status != null) sub(w, 0x0a /* 1 */, m.status, status);
  if (m.denied_response != null) sub(w, 0x12 /* 2 */, m.denied_response, deniedResponse);
  if (m.ok_response != null) {
    const fixed = fixedOk.get(m.ok_response);
    if (fixed === undefined) sub(w, 0x1a /* 3 */, m.ok_response, okResponse);
    else {
      w.tag(0x1a /* 3 */);
      w.bytes(fixed);
    }
  }
  if (m.dynamic_metadata != null) sub(w, 0x22 /* 4 */, m.dynamic_metadata, struct);
}

function status(w: WireWriter, m: Status): void {
  if (m.code != null) {
    w.tag(0x08 /* 1 */);
    w.int32(Number(m.code) | 0);
  }
  if (m.message != null) {
    w.tag(0x12 /* 2 */);
    w.string(text(m.message));
  }
  if (m.details != null && m.details.length > 0) throw new TypeError('CheckResponse.status.details is not supported');
}

function deniedResponse(w: WireWriter, m: DeniedHttpResponse): void {
  if (m.status != null) {
    const code = message(m.status, 'DeniedHttpResponse.status').code;
    const start = beginSub(w, 0x0a /* 1 */);
    if (code != null) {
      w.tag(0x08 /* HttpStatus.code = 1 */);
      w.int32(enumValue(HTTP_STATUS_CODES, code, 'HttpStatus.code'));
    }
    w.end(start);
  }
  repeated(w, 0x12 /* 2 */, m.headers, headerValueOption);
  if (m.body != null) {
    w.tag(0x1a /* 3 */);
    w.string(text(m.body));
  }
}

function okResponse(w: WireWriter, m: OkHttpResponse): void {
  repeated(w, 0x12 /* 2 */, m.headers, headerValueOption);
  if (m.dynamic_metadata != null) sub(w, 0x1a /* 3 */, m.dynamic_metadata, struct);
  strings(w, 0x2a /* 5 */, m.headers_to_remove);
  repeated(w, 0x32 /* 6 */, m.response_headers_to_add, headerValueOption);
  repeated(w, 0x3a /* 7 */, m.query_parameters_to_set, queryParameter);
  strings(w, 0x42 /* 8 */, m.query_parameters_to_remove);
}

function headerValueOption(w: WireWriter, m: HeaderValueOption): void {
  const header = m.header;
  if (header != null) {
    message(header, 'HeaderValueOption.header');
    const start = beginSub(w, 0x0a /* 1 */);
    if (header.key != null) {
      w.tag(0x0a /* HeaderValue.key = 1 */);
      w.string(text(header.key));
    }
    if (header.value != null) {
      w.tag(0x12 /* HeaderValue.value = 2 */);
      w.string(text(header.value));
    }
    if (header.raw_value != null) {
      w.tag(0x1a /* HeaderValue.raw_value = 3 */);
      w.bytes(typeof header.raw_value === 'string' ? Buffer.from(header.raw_value, 'base64') : header.raw_value);
    }
    w.end(start);
  }
  if (m.append != null) {
    const value = message(m.append, 'HeaderValueOption.append').value;
    const start = beginSub(w, 0x12 /* 2 */);
    if (value != null) {
      w.tag(0x08 /* BoolValue.value = 1 */);
      w.bool(Boolean(value));
    }
    w.end(start);
  }
  if (m.append_action != null) {
    w.tag(0x18 /* 3 */);
    w.int32(enumValue(APPEND_ACTIONS, m.append_action, 'HeaderValueOption.append_action'));
  }
  if (m.keep_empty_value != null) {
    w.tag(0x20 /* 4 */);
    w.bool(Boolean(m.keep_empty_value));
  }
}

function queryParameter(w: WireWriter, m: QueryParameter): void {
  if (m.key != null) {
    w.tag(0x0a /* 1 */);
    w.string(text(m.key));
  }
  if (m.value != null) {
    w.tag(0x12 /* 2 */);
    w.string(text(m.value));
  }
}

/** google.protobuf.Struct: `map<string, Value> fields = 1`, each entry `{ key = 1, value = 2 }`. */
function struct(w: WireWriter, m: Struct): void {
  const fields = m.fields;
  if (fields == null) return;
  message(fields, 'Struct.fields');
  for (const name of Object.keys(fields)) {
    const entry = beginSub(w, 0x0a /* fields = 1 */);
    w.tag(0x0a /* key = 1 */);
    w.string(name);
    sub(w, 0x12 /* value = 2 */, fields[name], value);
    w.end(entry);
  }
}

/** google.protobuf.Value: every kind that is set is written, in field order, as protobufjs does. */
function value(w: WireWriter, m: Value): void {
  if (m.nullValue != null) {
    w.tag(0x08 /* null_value = 1 */);
    w.int32(enumValue(NULL_VALUE, m.nullValue, 'Value.nullValue'));
  }
  if (m.numberValue != null) {
    w.tag(0x11 /* number_value = 2, fixed64 */);
    w.double(Number(m.numberValue));
  }
  if (m.stringValue != null) {
    w.tag(0x1a /* string_value = 3 */);
    w.string(text(m.stringValue));
  }
  if (m.boolValue != null) {
    w.tag(0x20 /* bool_value = 4 */);
    w.bool(Boolean(m.boolValue));
  }
  if (m.structValue != null) sub(w, 0x2a /* struct_value = 5 */, m.structValue, struct);
  if (m.listValue != null) sub(w, 0x32 /* list_value = 6 */, m.listValue, listValue);
}

function listValue(w: WireWriter, m: ListValue): void {
  repeated(w, 0x0a /* values = 1 */, m.values, value);
}

// ---- helpers ----------------------------------------------------------------------------

function sub<T>(w: WireWriter, tag: number, m: T, encode: (w: WireWriter, m: T) => void): void {
  message(m, 'sub-message');
  const start = beginSub(w, tag);
  encode(w, m);
  w.end(start);
}

function beginSub(w: WireWriter, tag: number): number {
  w.tag(tag);
  return w.begin();
}

function repeated<T>(w: WireWriter, tag: number, list: readonly T[] | undefined, encode: (w: WireWriter, m: T) => void): void {
  if (list == null) return;
  for (let i = 0; i < list.length; i++) sub(w, tag, list[i], encode);
}

function strings(w: WireWriter, tag: number, list: readonly string[] | undefined): void {
  if (list == null) return;
  for (let i = 0; i < list.length; i++) {
    w.tag(tag);
    w.string(text(list[i]));
  }
}

function message<T>(m: T, what: string): T {
  if (typeof m !== 'object' || m === null) throw new TypeError(`${what} must be an object`);
  return m;
}

/** protobufjs's fromObject coerces with String(); a string is the only case response.ts builds. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : String(value);
}

function enumValue(names: Readonly<Record<string, number>>, value: string | number, what: string): number {
  if (typeof value === 'number') return value | 0;
  const number = Object.hasOwn(names, value) ? names[value] : undefined;
  if (number === undefined) throw new TypeError(`${what}: unknown enum name ${JSON.stringify(value)}`);
  return number;
}

/** envoy.type.v3.StatusCode, as named in proto/envoy/type/v3/http_status.proto: name → HTTP status. */
export const HTTP_STATUS_CODES: Readonly<Record<string, number>> = Object.freeze({
  Empty: 0,
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  PayloadTooLarge: 413,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  ServiceUnavailable: 503,
});

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction. */
const APPEND_ACTIONS: Readonly<Record<string, number>> = {
  APPEND_IF_EXISTS_OR_ADD: 0,
  ADD_IF_ABSENT: 1,
  OVERWRITE_IF_EXISTS_OR_ADD: 2,
  OVERWRITE_IF_EXISTS: 3,
};

const NULL_VALUE: Readonly<Record<string, number>> = { NULL_VALUE: 0 };
