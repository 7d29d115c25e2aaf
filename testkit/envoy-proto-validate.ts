import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { parse } from 'yaml';
import { ENVOY_PROTO_DIRS } from './paths.js';

/**
 * A strict check of an Envoy YAML config against Envoy's own v3 protos (shipped in
 * @grpc/grpc-js-xds), the way Envoy reads it: YAML → proto3 JSON → message, unknown fields
 * rejected. No Envoy binary can run in CI, so this is what keeps deploy/envoy honest.
 *
 * Stricter than Envoy on purpose in three places: `null` (a YAML key with nothing after it)
 * is an error — `http2_protocol_options:` silently means HTTP/1.1; deprecated fields are
 * errors; PGV `required` rules (fields and oneofs) are enforced, other PGV rules are not.
 */
export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** Bootstrap plus every extension an `@type` in deploy/envoy may name. */
export const ENVOY_PROTO_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
];

const TYPE_URL_PREFIX = 'type.googleapis.com/';
// google/protobuf/descriptor.proto (imported by the PGV and udpa annotations) is not among
// protobufjs's bundled common types; its copy ships in the package folder.
const PROTOBUFJS_DIR = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));
const INCLUDE_DIRS = [...ENVOY_PROTO_DIRS, PROTOBUFJS_DIR];

let cachedRoot: protobuf.Root | undefined;

export function loadEnvoyRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (isAbsolute(target)) return target;
    return INCLUDE_DIRS.map((dir) => join(dir, target)).find((file) => existsSync(file)) ?? target;
  };
  cachedRoot = root.loadSync(ENVOY_PROTO_FILES, { keepCase: true });
  return cachedRoot;
}

/** Parses YAML text and validates it as a Bootstrap; returns `PATH: REASON` lines. */
export function validateEnvoyYaml(text: string): string[] {
  return validateEnvoyConfig(parse(text));
}

/** Validates an already-parsed document as `typeName` (a Bootstrap unless told). */
export function validateEnvoyConfig(document: unknown, typeName = BOOTSTRAP_TYPE): string[] {
  const root = loadEnvoyRoot();
  const errors: string[] = [];
  checkMessage({ root, errors }, document, root.lookupType(typeName), '');
  return errors;
}

interface Context {
  root: protobuf.Root;
  errors: string[];
}

type Json = Record<string, unknown>;

const fail = (ctx: Context, path: string, reason: string) => void ctx.errors.push(`${path || '(root)'}: ${reason}`);
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const child = (path: string, key: string) => (path ? `${path}.${key}` : key);
const describe = (value: unknown) =>
  value === null ? 'null' : Array.isArray(value) ? 'a list' : isObject(value) ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;

function checkMessage(ctx: Context, value: unknown, type: protobuf.Type, path: string): void {
  const special = WELL_KNOWN[type.fullName.slice(1)];
  if (special) return special(ctx, value, path);
  if (!isObject(value)) return fail(ctx, path, `expected an object (${type.fullName.slice(1)}), got ${describe(value)}`);
  const seen = new Map<protobuf.Field, string>();
  for (const [key, item] of Object.entries(value)) {
    const field = fieldsByName(type).get(key);
    const at = child(path, key);
    if (!field) {
      fail(ctx, at, 'unknown field');
      continue;
    }
    if (seen.has(field)) {
      fail(ctx, at, `same field as "${seen.get(field)}"`);
      continue;
    }
    seen.set(field, key);
    if (field.options?.deprecated === true) fail(ctx, at, 'deprecated field');
    checkField(ctx, item, field, at);
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.filter((field) => seen.has(field)).map((field) => seen.get(field));
    const names = oneof.fieldsArray.map((field) => field.name).join(', ');
    if (set.length > 1) fail(ctx, path, `oneof "${oneof.name}": only one of ${set.join(', ')} may be set`);
    if (set.length === 0 && oneof.options?.['(validate.required)'] === true) fail(ctx, path, `oneof "${oneof.name}": one of ${names} is required`);
  }
  for (const field of type.fieldsArray) {
    // PGV rules on a oneof member only apply when that member is the one set.
    if (!field.partOf && !seen.has(field) && isRequired(field)) fail(ctx, child(path, field.name), 'required field missing');
  }
}

function checkField(ctx: Context, value: unknown, field: protobuf.Field, path: string): void {
  if (field instanceof protobuf.MapField) {
    if (!isObject(value)) return fail(ctx, path, `expected a map (object), got ${describe(value)}`);
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}[${JSON.stringify(key)}]`;
      if (field.keyType !== 'string' && field.keyType !== 'bool' && !/^-?\d+$/.test(key)) fail(ctx, at, `map key must be a ${field.keyType}`);
      checkValue(ctx, item, field, at);
    }
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) return fail(ctx, path, `expected a list, got ${describe(value)}`);
    value.forEach((item, index) => checkValue(ctx, item, field, `${path}[${index}]`));
    return;
  }
  checkValue(ctx, value, field, path);
}

function checkValue(ctx: Context, value: unknown, field: protobuf.Field, path: string): void {
  const type = field.resolvedType;
  if (value === null && !(type && ['.google.protobuf.Value', '.google.protobuf.NullValue'].includes(type.fullName))) {
    return fail(ctx, path, 'null leaves the field unset: remove the key, or write {} for an empty message');
  }
  if (type instanceof protobuf.Type) return checkMessage(ctx, value, type, path);
  if (type instanceof protobuf.Enum) return checkEnum(ctx, value, type, path);
  checkScalar(ctx, value, field.type, path);
}

function checkEnum(ctx: Context, value: unknown, type: protobuf.Enum, path: string): void {
  if (value === null) return; // google.protobuf.NullValue
  const known = typeof value === 'string' ? value in type.values : Number.isInteger(value) && Object.values(type.values).includes(value as number);
  const names = Object.keys(type.values);
  const hint = names.length <= 12 ? ` (${names.join(', ')})` : '';
  if (!known) fail(ctx, path, `${describe(value)} is not a value of ${type.fullName.slice(1)}${hint}`);
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

function checkScalar(ctx: Context, value: unknown, scalar: string, path: string): void {
  const range = INT_RANGES[scalar];
  if (range) {
    // proto3 JSON takes integers as numbers or decimal strings (the only exact way for 64-bit).
    const digits = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : '') : typeof value === 'string' ? value : '';
    if (!/^-?\d+$/.test(digits)) return fail(ctx, path, `expected an integer (${scalar}), got ${describe(value)}`);
    if (BigInt(digits) < range[0] || BigInt(digits) > range[1]) return fail(ctx, path, `${digits} is out of range for ${scalar}`);
    if (typeof value === 'number' && !Number.isSafeInteger(value)) fail(ctx, path, `${scalar} beyond 2^53: write it as a string`);
    return;
  }
  const ok =
    scalar === 'string'
      ? typeof value === 'string'
      : scalar === 'bool'
        ? typeof value === 'boolean'
        : scalar === 'double' || scalar === 'float'
          ? typeof value === 'number' || (typeof value === 'string' && /^(NaN|-?Infinity|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(value))
          : scalar === 'bytes'
            ? typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
            : false;
  if (!ok) fail(ctx, path, `expected ${scalar}, got ${describe(value)}`);
}

/** Envoy reads both `snake_case` proto names and their proto3 JSON (lowerCamelCase) names. */
const fieldIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
function fieldsByName(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = fieldIndex.get(type);
  if (!index) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(field.name, field);
      index.set(field.options?.json_name ?? field.name.replace(/_(.)/g, (_, next: string) => next.toUpperCase()), field);
    }
    fieldIndex.set(type, index);
  }
  return index;
}

/** `(validate.rules).<kind>.required` — message, duration, timestamp and Any all spell it so. */
function isRequired(field: protobuf.Field): boolean {
  const flat = Object.entries(field.options ?? {}).some(([key, on]) => /^\(validate\.rules\)\.\w+\.required$/.test(key) && on === true);
  const parsed = ((field as { parsedOptions?: Json[] }).parsedOptions ?? []).some((option) =>
    Object.values((option['(validate.rules)'] ?? {}) as Json).some((rule) => isObject(rule) && rule.required === true),
  );
  return flat || parsed;
}

type Check = (ctx: Context, value: unknown, path: string) => void;
const scalarOf =
  (scalar: string): Check =>
  (ctx, value, path) =>
    checkScalar(ctx, value, scalar, path);
const expect =
  (test: (value: unknown) => boolean, what: string): Check =>
  (ctx, value, path) => {
    if (!test(value)) fail(ctx, path, `expected ${what}, got ${describe(value)}`);
  };

/** Types whose proto3 JSON form is not an object of their fields. Empty needs nothing special. */
const WELL_KNOWN: Record<string, Check> = {
  'google.protobuf.Any': checkAny,
  'google.protobuf.Duration': expect((v) => typeof v === 'string' && /^-?\d+(\.\d{1,9})?s$/.test(v), 'a duration string like "1.5s"'),
  'google.protobuf.Timestamp': expect(
    (v) => typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(v),
    'an RFC 3339 timestamp string',
  ),
  'google.protobuf.FieldMask': expect((v) => typeof v === 'string', 'a field mask string'),
  'google.protobuf.Struct': expect(isObject, 'an object (Struct)'),
  'google.protobuf.ListValue': expect(Array.isArray, 'a list (ListValue)'),
  'google.protobuf.Value': expect((v) => v !== undefined, 'any JSON value'),
  'google.protobuf.DoubleValue': scalarOf('double'),
  'google.protobuf.FloatValue': scalarOf('float'),
  'google.protobuf.Int64Value': scalarOf('int64'),
  'google.protobuf.UInt64Value': scalarOf('uint64'),
  'google.protobuf.Int32Value': scalarOf('int32'),
  'google.protobuf.UInt32Value': scalarOf('uint32'),
  'google.protobuf.BoolValue': scalarOf('bool'),
  'google.protobuf.StringValue': scalarOf('string'),
  'google.protobuf.BytesValue': scalarOf('bytes'),
};

/** `{"@type": "type.googleapis.com/NAME", ...fields of NAME}`; a well-known NAME puts its JSON under `value`. */
function checkAny(ctx: Context, value: unknown, path: string): void {
  if (!isObject(value)) return fail(ctx, path, `expected an object with "@type" (Any), got ${describe(value)}`);
  const { '@type': url, ...rest } = value;
  const at = child(path, '@type');
  if (typeof url !== 'string') return fail(ctx, at, 'missing: an Any needs "@type"');
  if (!url.startsWith(TYPE_URL_PREFIX)) return fail(ctx, at, `must start with "${TYPE_URL_PREFIX}"`);
  const name = url.slice(TYPE_URL_PREFIX.length);
  const type = ctx.root.lookup(name);
  if (!(type instanceof protobuf.Type) || type.fullName !== `.${name}`) {
    return fail(ctx, at, `"${name}" is not a message type in the loaded protos (see ENVOY_PROTO_FILES)`);
  }
  if (!WELL_KNOWN[name]) return checkMessage(ctx, rest, type, path);
  for (const key of Object.keys(rest)) if (key !== 'value') fail(ctx, child(path, key), 'unknown field (a well-known type in an Any has only "value")');
  checkMessage(ctx, rest.value, type, child(path, 'value'));
}
