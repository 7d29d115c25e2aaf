/**
 * A CheckRequest written in the proto3 JSON mapping (as protojson, grpcurl or an Envoy tap
 * print it) → the CheckRequest__Output the sidecar would have decoded from the same message
 * on the wire. The fields the sidecar's decoder reads (grpc/wire/check-request.ts) are taken
 * from the JSON, under their lowerCamelCase JSON names or the proto's own, as proto3 JSON
 * parsers accept; they are encoded with the sidecar's protos and decoded by the sidecar's own
 * decoder, so oneof markers, map keys, raw header bytes and absent fields come out exactly as
 * in a served Check. What that decoder skips on the wire (time, destination, metadata, the TLS
 * session…) and fields our protos do not declare are ignored here too.
 */
import type { CheckRequest, CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { HeaderValue } from '../generated/envoy/config/core/v3/HeaderValue.js';
import { decodeCheckRequest } from '../grpc/index.js';
import { loadAuthProto } from '../grpc/protos.js';
import { DocumentError } from '../shared/index.js';

type Json = Readonly<Record<string, unknown>>;

/** Converts one parsed JSON CheckRequest; `where` names it in errors (`requests.jsonl:7`). */
export type CheckRequestReader = (json: Json, where: string) => CheckRequest__Output;

/** Loads the sidecar's protos once (proto-loader), then converts any number of requests. */
export function checkRequestReader(): CheckRequestReader {
  const encode = loadAuthProto().envoy.service.auth.v3.Authorization.service.Check.requestSerialize;
  return (json, where) => decodeCheckRequest(encode(checkRequestOf(new JsonMessage(json, where, ''))));
}

/** The subset of CheckRequest the decoder reads; each field present in the JSON is set, an empty one included. */
function checkRequestOf(request: JsonMessage): CheckRequest {
  const attributes = request.message('attributes');
  if (attributes === undefined) return {};
  const source = attributes.message('source');
  const address = source?.message('address');
  const socket = address?.message('socket_address');
  const http = attributes.message('request')?.message('http');
  const headerMap = http?.message('header_map');
  return {
    attributes: {
      source: source && {
        address: address && { socket_address: socket && { address: socket.string('address'), port_value: socket.uint32('port_value') } },
        principal: source.string('principal'),
      },
      request: http && {
        http: {
          id: http.string('id'),
          method: http.string('method'),
          headers: http.stringMap('headers'),
          header_map: headerMap && { headers: headerMap.messages('headers')?.map(headerValue) },
          path: http.string('path'),
          host: http.string('host'),
        },
      },
      context_extensions: attributes.stringMap('context_extensions'),
    },
  };
}

function headerValue(entry: JsonMessage): HeaderValue {
  return { key: entry.string('key'), value: entry.string('value'), raw_value: entry.bytes('raw_value') };
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** One JSON object read as a proto message: fields by either name, each type-checked; null is absent (proto3 JSON). */
class JsonMessage {
  constructor(
    private readonly json: Json,
    private readonly where: string,
    private readonly at: string,
  ) {}

  message(field: string): JsonMessage | undefined {
    const value = this.field(field);
    if (value === undefined) return undefined;
    if (!isObject(value)) throw this.error(field, 'must be an object');
    return new JsonMessage(value, this.where, this.path(field));
  }

  messages(field: string): JsonMessage[] | undefined {
    const value = this.field(field);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw this.error(field, 'must be a list');
    return value.map((item: unknown, i) => {
      if (!isObject(item)) throw this.error(`${field}[${i}]`, 'must be an object');
      return new JsonMessage(item, this.where, `${this.path(field)}[${i}]`);
    });
  }

  string(field: string): string | undefined {
    const value = this.field(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw this.error(field, 'must be a string');
    return value;
  }

  /** A uint32 as proto3 JSON writes it: a number, or a string of digits. */
  uint32(field: string): number | undefined {
    const value = this.field(field);
    if (value === undefined) return undefined;
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw this.error(field, 'must be a whole number from 0 to 4294967295');
    return n;
  }

  /** Bytes as proto3 JSON writes them: base64, standard or URL-safe, padded or not. */
  bytes(field: string): Buffer | undefined {
    const value = this.field(field);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !BASE64.test(value)) throw this.error(field, 'must be base64 text');
    return Buffer.from(value, 'base64');
  }

  /** A map<string, string>: a JSON object of strings (empty values are map entries, kept). */
  stringMap(field: string): Record<string, string> | undefined {
    const value = this.field(field);
    if (value === undefined) return undefined;
    if (!isObject(value)) throw this.error(field, 'must be an object of strings');
    for (const [key, item] of Object.entries(value)) if (typeof item !== 'string') throw this.error(`${field}.${key}`, 'must be a string');
    return value as Record<string, string>;
  }

  /** The field's value under its proto name or its JSON name (snake_case → lowerCamelCase), never both. */
  private field(name: string): unknown {
    const jsonName = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const asProto = Object.hasOwn(this.json, name);
    const asJson = jsonName !== name && Object.hasOwn(this.json, jsonName);
    if (asProto && asJson) throw this.error(name, `given twice, as "${name}" and "${jsonName}"`);
    const value = asProto ? this.json[name] : asJson ? this.json[jsonName] : undefined;
    return value === null ? undefined : value;
  }

  private path(field: string): string {
    return this.at === '' ? field : `${this.at}.${field}`;
  }

  private error(field: string, reason: string): DocumentError {
    return new DocumentError(this.where, this.path(field), reason);
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
