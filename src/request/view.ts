import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { _envoy_service_auth_v3_AttributeContext_HttpRequest__Output as HttpRequest } from '../generated/envoy/service/auth/v3/AttributeContext.js';
import type { Address__Output } from '../generated/envoy/config/core/v3/Address.js';
import { RequestError } from './errors.js';
import { DEFAULT_MAX_PATH_LENGTH, normalizePathOnly, parseQuery } from './path.js';
import type { RequestView } from './types.js';

export interface RequestLimits {
  /** Header entries accepted (pseudo-headers included). Default 200. */
  maxHeaders?: number;
  /** Sum of name and value bytes over all headers. Default 64 KiB. */
  maxHeaderBytes?: number;
  /** Longest path before `?`, in bytes. Default 4096. */
  maxPathBytes?: number;
}

export const DEFAULT_REQUEST_LIMITS: Readonly<Required<RequestLimits>> = Object.freeze({
  maxHeaders: 200,
  maxHeaderBytes: 64 * 1024,
  maxPathBytes: DEFAULT_MAX_PATH_LENGTH,
});

/**
 * Builds the immutable view the rest of the request path reads. Throws RequestError for
 * input that must be denied with 400/431; TypeError only for bad `limits` (a config bug).
 */
export function buildRequestView(req: CheckRequest__Output, limits: RequestLimits = {}): RequestView {
  const maxHeaders = limit(limits.maxHeaders, 'maxHeaders');
  const maxHeaderBytes = limit(limits.maxHeaderBytes, 'maxHeaderBytes');
  const maxPathBytes = limit(limits.maxPathBytes, 'maxPathBytes');
  const attributes = req?.attributes;
  const http = attributes?.request?.http;
  if (!attributes || !http) throw new RequestError('malformed_request', 'CheckRequest has no attributes.request.http');

  const streamId = http.id ?? '';
  const { headers, repeatedHeaders } = collectHeaders(http, maxHeaders, maxHeaderBytes, streamId);
  const id = headers['x-request-id'] || streamId;

  const method = http.method || headers[':method'] || '';
  if (!isToken(method, 0)) throw new RequestError('malformed_request', 'missing or invalid method', { requestId: id });
  if (hasLowerAscii(method)) throw new RequestError('lowercase_method', 'method has a lower-case letter', { requestId: id });
  const rawPath = http.path || headers[':path'] || '';
  if (!rawPath) throw new RequestError('malformed_request', 'missing path', { requestId: id });
  const host = http.host || headers[':authority'] || headers['host'] || '';
  if (!isVisibleAscii(host)) throw new RequestError('malformed_request', 'invalid host', { requestId: id });

  let normalized;
  try {
    normalized = normalizePathOnly(rawPath, { maxLength: maxPathBytes });
  } catch (error) {
    throw error instanceof RequestError ? error.withRequestId(id) : error;
  }

  return new View(
    id,
    method,
    host,
    normalized.path,
    normalized.pathEnd,
    rawPath,
    headers,
    repeatedHeaders,
    attributes.source?.address,
    attributes.source?.principal ?? '',
    attributes.context_extensions,
  );
}

/**
 * Frozen, with the parts most Checks never read (query, source address, context extensions)
 * computed on first use: they only matter to CEL conditions and the decision log. Private
 * fields are not properties, so caching them does not defeat the freeze.
 */
class View implements RequestView {
  readonly id: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly rawPath: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly repeatedHeaders: ReadonlySet<string>;
  readonly sourcePrincipal: string;
  readonly #pathEnd: number;
  readonly #address: Address__Output | undefined;
  readonly #extensions: Record<string, string> | undefined;
  #query: Readonly<Record<string, string>> | undefined;
  #sourceAddress: string | undefined;
  #contextExtensions: Readonly<Record<string, string>> | undefined;

  constructor(
    id: string,
    method: string,
    host: string,
    path: string,
    pathEnd: number,
    rawPath: string,
    headers: Record<string, string>,
    repeatedHeaders: ReadonlySet<string>,
    address: Address__Output | undefined,
    sourcePrincipal: string,
    extensions: Record<string, string> | undefined,
  ) {
    this.id = id;
    this.method = method;
    this.host = lowerAscii(host);
    this.path = path;
    this.rawPath = rawPath;
    this.headers = Object.freeze(headers);
    this.repeatedHeaders = repeatedHeaders;
    this.sourcePrincipal = sourcePrincipal;
    this.#pathEnd = pathEnd;
    this.#address = address;
    this.#extensions = extensions;
    Object.freeze(this);
  }

  get query(): Readonly<Record<string, string>> {
    return (this.#query ??= Object.freeze(parseQuery(this.rawPath, this.#pathEnd)));
  }

  get sourceAddress(): string {
    return (this.#sourceAddress ??= formatAddress(this.#address));
  }

  get contextExtensions(): Readonly<Record<string, string>> {
    return (this.#contextExtensions ??= copyFrozen(this.#extensions));
  }

  /** One context extension of a view, read without copying the map as `contextExtensions` does. */
  static extension(view: RequestView, name: string): string | undefined {
    if (!(#extensions in view)) return Object.hasOwn(view.contextExtensions, name) ? view.contextExtensions[name] : undefined;
    const extensions = view.#extensions;
    return extensions !== undefined && Object.hasOwn(extensions, name) ? extensions[name] : undefined;
  }
}

/** A context extension of the view (a gateway reads `service` on every Check; this spares the copy). */
export const contextExtension = (view: RequestView, name: string): string | undefined => View.extension(view, name);

/**
 * Methods are case-sensitive (RFC 9110 §9.1), yet some backends upper-case them (Django,
 * Werkzeug) and others do not, so `delete` is DELETE to one and an unknown method to the
 * other. Refusing a method with a lower-case letter leaves only spellings every backend
 * reads alike: a DENY rule for DELETE cannot be skirted with `delete`, and an ALLOW rule
 * for GET never approves a `get` that a backend treats as something else.
 */
function hasLowerAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return true;
  }
  return false;
}

/** Hosts are already checked to be visible ASCII; skip the copy when nothing changes. */
function lowerAscii(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return text.toLowerCase();
  }
  return text;
}

function limit(value: number | undefined, name: keyof RequestLimits): number {
  if (value === undefined) return DEFAULT_REQUEST_LIMITS[name];
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`request limit ${name} must be a positive integer`);
  return value;
}

interface CollectedHeaders {
  headers: Record<string, string>;
  repeatedHeaders: ReadonlySet<string>;
}

/**
 * One pass over `header_map` then the `headers` map. `header_map` wins for a name it
 * carries: it is the per-entry form (raw bytes when Envoy's `encode_raw_headers` is on),
 * and Envoy fills one or the other. `raw_value` is decoded as latin1 — one char per byte,
 * lossless — so two different byte strings can never turn into the same value, which
 * utf8 decoding (invalid bytes → U+FFFD) would allow.
 */
function collectHeaders(http: HttpRequest, maxHeaders: number, maxBytes: number, requestId: string): CollectedHeaders {
  const headers = Object.create(null) as Record<string, string>;
  let repeated: Set<string> | undefined;
  let count = 0;
  // Bytes are bounded above while counting (a UTF-16 unit is at most 3 UTF-8 bytes) and
  // counted exactly only when the bound passes the limit: exact counting is a native call per
  // value, and real requests are far below the limit.
  let bound = 0;
  const add = (name: string, value: string): void => {
    if (++count > maxHeaders) throw new RequestError('too_many_headers', `more than ${maxHeaders} headers`, { requestId });
    const previous = headers[name];
    if (previous === undefined) {
      headers[name] = value;
    } else {
      headers[name] = previous + ',' + value;
      (repeated ??= new Set()).add(name);
    }
  };

  const entries = http.header_map?.headers ?? [];
  for (const entry of entries) {
    const name = headerName(entry.key, requestId);
    const raw = entry.raw_value;
    if (raw !== undefined && raw.length > 0) {
      bound += name.length + raw.length;
      const value = raw.toString('latin1');
      checkValue(value, requestId);
      add(name, value);
    } else {
      const value = entry.value ?? '';
      bound += name.length + 3 * value.length;
      checkValue(value, requestId);
      add(name, value);
    }
  }

  const map = http.headers;
  const fromHeaderMap = map && entries.length > 0 ? new Set(Object.keys(headers)) : undefined;
  if (map) {
    for (const key of Object.keys(map)) {
      const name = headerName(key, requestId);
      if (fromHeaderMap?.has(name)) continue;
      const value = map[key] ?? '';
      bound += name.length + 3 * value.length;
      checkValue(value, requestId);
      add(name, value);
    }
  }
  if (bound > maxBytes && exactHeaderBytes(http, fromHeaderMap) > maxBytes) {
    throw new RequestError('header_too_large', `headers larger than ${maxBytes} bytes`, { requestId });
  }
  return { headers, repeatedHeaders: repeated ? new FrozenSet(repeated) : EMPTY_SET };
}

/** Sum of name and value bytes over every header collectHeaders took (names are ASCII tokens by then). */
function exactHeaderBytes(http: HttpRequest, fromHeaderMap: ReadonlySet<string> | undefined): number {
  let bytes = 0;
  for (const entry of http.header_map?.headers ?? []) {
    const raw = entry.raw_value;
    bytes += (entry.key ?? '').length + (raw !== undefined && raw.length > 0 ? raw.length : Buffer.byteLength(entry.value ?? '', 'utf8'));
  }
  const map = http.headers;
  if (map) {
    for (const key of Object.keys(map)) {
      if (fromHeaderMap?.has(key.toLowerCase())) continue;
      bytes += key.length + Buffer.byteLength(map[key] ?? '', 'utf8');
    }
  }
  return bytes;
}

/**
 * The lower-cased name, checked to be an RFC 9110 token (pseudo-headers: ":" + token)
 * before lower-casing, because `toLowerCase` maps some non-ASCII letters onto ASCII
 * ("\u212A" → "k") and would let a look-alike name pass as a real one.
 */
function headerName(key: string | undefined, requestId: string): string {
  const name = key ?? '';
  // Names repeat on every request (the decoder interns them): validate each spelling once.
  const known = KNOWN_NAMES.get(name);
  if (known !== undefined) return known;
  if (!isToken(name, name.charCodeAt(0) === 0x3a ? 1 : 0)) {
    throw new RequestError('invalid_header', 'header name is not a token', { requestId });
  }
  let lower = name;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      lower = name.toLowerCase();
      break;
    }
  }
  // Bounded so a client sending ever-new names cannot grow it; past the bound names are just not remembered.
  if (KNOWN_NAMES.size < MAX_KNOWN_NAMES && name.length <= 64) KNOWN_NAMES.set(name, lower);
  return lower;
}

const MAX_KNOWN_NAMES = 4096;
const KNOWN_NAMES = new Map<string, string>();

const FORBIDDEN_IN_VALUE = /[\0\r\n]/;

/** Refuses NUL, CR and LF. */
function checkValue(value: string, requestId: string): void {
  if (FORBIDDEN_IN_VALUE.test(value)) throw new RequestError('invalid_header', 'header value contains NUL, CR or LF', { requestId });
}

// RFC 9110 §5.6.2 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~".
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isToken(text: string, from: number): boolean {
  if (text.length <= from) return false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Non-ASCII would make `toLowerCase` fold look-alikes into ASCII; hosts are punycode on the wire. */
function isVisibleAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** "ip:port", IPv6 in brackets so the port stays unambiguous; "" for pipes or when absent. */
function formatAddress(address: Address__Output | undefined): string {
  const socket = address?.socket_address;
  const ip = socket?.address;
  if (!ip) return '';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return socket.port_value === undefined ? host : `${host}:${socket.port_value}`;
}

const EMPTY_RECORD = Object.freeze(Object.create(null) as Record<string, string>);

/** A copy, so freezing never touches the decoded request the caller still owns. */
function copyFrozen(map: Record<string, string> | undefined): Readonly<Record<string, string>> {
  if (!map) return EMPTY_RECORD;
  const keys = Object.keys(map);
  if (keys.length === 0) return EMPTY_RECORD;
  const copy = Object.create(null) as Record<string, string>;
  for (const key of keys) copy[key] = map[key];
  return Object.freeze(copy);
}

/** `Object.freeze` does not stop `Set#add`; this one refuses every mutation, so one empty instance can be shared. */
class FrozenSet<T> extends Set<T> {
  constructor(values: Iterable<T>) {
    super();
    for (const value of values) super.add(value);
    Object.freeze(this);
  }
  override add(): this {
    throw new TypeError('FrozenSet is immutable');
  }
  override delete(): boolean {
    throw new TypeError('FrozenSet is immutable');
  }
  override clear(): void {
    throw new TypeError('FrozenSet is immutable');
  }
}

const EMPTY_SET: ReadonlySet<string> = new FrozenSet<string>([]);
