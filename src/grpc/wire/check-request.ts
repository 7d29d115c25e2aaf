import type { CheckRequest__Output } from '../../generated/envoy/service/auth/v3/CheckRequest.js';
import type {
  AttributeContext__Output as AttributeContext,
  _envoy_service_auth_v3_AttributeContext_HttpRequest__Output as HttpRequest,
  _envoy_service_auth_v3_AttributeContext_Peer__Output as Peer,
  _envoy_service_auth_v3_AttributeContext_Request__Output as Request,
} from '../../generated/envoy/service/auth/v3/AttributeContext.js';
import type { Address__Output as Address } from '../../generated/envoy/config/core/v3/Address.js';
import type { SocketAddress__Output as SocketAddress } from '../../generated/envoy/config/core/v3/SocketAddress.js';
import type { HeaderMap__Output as HeaderMap } from '../../generated/envoy/config/core/v3/HeaderMap.js';
import type { HeaderValue__Output as HeaderValue } from '../../generated/envoy/config/core/v3/HeaderValue.js';
import { declaredFields, WireReader, WireType } from './reader.js';

/**
 * Decodes the part of an Envoy CheckRequest that `buildRequestView` reads, into the same JS
 * shapes @grpc/proto-loader gives under LOADER_OPTIONS (keepCase, oneofs, defaults: false):
 *
 *   attributes.source.address.socket_address.{address, port_value}  (+ oneof markers)
 *   attributes.source.principal
 *   attributes.request.http.{id, method, headers, header_map.headers[], path, host}
 *   attributes.context_extensions
 *
 * Everything else (destination, time, metadata contexts, tls_session, body, …) is skipped by
 * wire type, never decoded. As in protobufjs: a field on the wire is set even when empty, an
 * absent one stays undefined, a scalar sent twice is last-one-wins, and so is a sub-message —
 * the second replaces the first, no proto merge (Envoy never sends one twice); map entries
 * accumulate, a missing key or value reads as '', a later duplicate key overwrites.
 *
 * Stricter than protobufjs, only on bytes Envoy never sends: a declared field with another
 * wire type, field 0, a group, a string running past its sub-message (protobufjs cuts it
 * short silently) are WireErrors; a 32-bit varint of 6+ bytes is read as the spec says
 * (protobufjs assumes 10). Laxer in one way: the sub-messages it skips are not validated.
 */
export function decodeCheckRequest(buf: Buffer): CheckRequest__Output {
  const r = new WireReader(buf);
  const request: CheckRequest__Output = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) request.attributes = attributeContext(r);
    else r.skip(tag, CHECK_REQUEST);
  }
  return request;
}

// Tags below are literals, `field << 3 | wireType`, with the field number and type beside them.
// The tables list every field of our protos, read or not, with its wire type.
const { VARINT, LEN } = WireType;

const CHECK_REQUEST = declaredFields({ 1: LEN });
const ATTRIBUTES = declaredFields({ 1: LEN, 2: LEN, 4: LEN, 10: LEN, 11: LEN, 12: LEN, 13: LEN });
function attributeContext(r: WireReader): AttributeContext {
  const outer = r.enter();
  const attributes: AttributeContext = {};
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a /* 1:LEN */:
        attributes.source = peer(r);
        break;
      case 0x22 /* 4:LEN */:
        attributes.request = request(r);
        break;
      case 0x52 /* 10:LEN */:
        mapEntry(r, (attributes.context_extensions ??= {}));
        break;
      default:
        r.skip(tag, ATTRIBUTES);
    }
  }
  r.leave(outer);
  return attributes;
}

const PEER = declaredFields({ 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN });
function peer(r: WireReader): Peer {
  const outer = r.enter();
  const result: Peer = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) result.address = address(r);
    else if (tag === 0x22 /* 4:LEN */) result.principal = r.string();
    else r.skip(tag, PEER);
  }
  r.leave(outer);
  return result;
}

const ADDRESS = declaredFields({ 1: LEN, 2: LEN, 3: LEN });
function address(r: WireReader): Address {
  const outer = r.enter();
  const result: Address = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) {
      result.socket_address = socketAddress(r);
      result.address = 'socket_address';
    } else {
      r.skip(tag, ADDRESS);
    }
  }
  r.leave(outer);
  return result;
}

const SOCKET_ADDRESS = declaredFields({ 1: VARINT, 2: LEN, 3: VARINT, 4: LEN, 5: LEN, 6: VARINT });
function socketAddress(r: WireReader): SocketAddress {
  const outer = r.enter();
  const result: SocketAddress = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x12 /* 2:LEN */) {
      result.address = r.string();
    } else if (tag === 0x18 /* 3:VARINT */) {
      result.port_value = r.uint32();
      result.port_specifier = 'port_value';
    } else {
      r.skip(tag, SOCKET_ADDRESS);
    }
  }
  r.leave(outer);
  return result;
}

const REQUEST = declaredFields({ 1: LEN, 2: LEN });
function request(r: WireReader): Request {
  const outer = r.enter();
  const result: Request = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x12 /* 2:LEN */) result.http = httpRequest(r);
    else r.skip(tag, REQUEST);
  }
  r.leave(outer);
  return result;
}

const HTTP_REQUEST = declaredFields({ 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN, 8: LEN, 9: VARINT, 10: LEN, 11: LEN, 12: LEN, 13: LEN });
function httpRequest(r: WireReader): HttpRequest {
  const outer = r.enter();
  const http: HttpRequest = {};
  while (r.more()) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a /* 1:LEN */:
        http.id = r.string();
        break;
      case 0x12 /* 2:LEN */:
        http.method = r.string();
        break;
      case 0x1a /* 3:LEN */:
        mapEntry(r, (http.headers ??= {}));
        break;
      case 0x22 /* 4:LEN */:
        http.path = r.string();
        break;
      case 0x2a /* 5:LEN */:
        http.host = r.string();
        break;
      case 0x6a /* 13:LEN */:
        http.header_map = headerMap(r);
        break;
      default:
        r.skip(tag, HTTP_REQUEST);
    }
  }
  r.leave(outer);
  return http;
}

const HEADER_MAP = declaredFields({ 1: LEN });
function headerMap(r: WireReader): HeaderMap {
  const outer = r.enter();
  const result: HeaderMap = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) (result.headers ??= []).push(headerValue(r));
    else r.skip(tag, HEADER_MAP);
  }
  r.leave(outer);
  return result;
}

const HEADER_VALUE = declaredFields({ 1: LEN, 2: LEN, 3: LEN });
function headerValue(r: WireReader): HeaderValue {
  const outer = r.enter();
  const result: HeaderValue = {};
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) result.key = r.name();
    else if (tag === 0x12 /* 2:LEN */) result.value = r.string();
    else if (tag === 0x1a /* 3:LEN */) result.raw_value = r.bytes();
    else r.skip(tag, HEADER_VALUE);
  }
  r.leave(outer);
  return result;
}

const MAP_ENTRY = declaredFields({ 1: LEN, 2: LEN });
/** One `map<string, string>` entry; a later duplicate key overwrites, as in protobufjs. */
function mapEntry(r: WireReader, map: Record<string, string>): void {
  const outer = r.enter();
  let name = '';
  let value = '';
  while (r.more()) {
    const tag = r.tag();
    if (tag === 0x0a /* 1:LEN */) name = r.name();
    else if (tag === 0x12 /* 2:LEN */) value = r.string();
    else r.skip(tag, MAP_ENTRY);
  }
  r.leave(outer);
  // A plain `map[name] = value` would set the prototype instead; protobufjs makes it an own property too.
  if (name === '__proto__') Object.defineProperty(map, name, { value, enumerable: true, configurable: true, writable: true });
  else map[name] = value;
}
