// HTTP mode: forward-auth endpoints for Envoy's http_service, nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth, answered by the same Check handler as gRPC
// (docs/http-mode.md). route.ts reads the URL, check-request.ts builds the CheckRequest,
// answer.ts turns the CheckResponse into the convention's answer, server.ts is the listener.
export { parseRoute, CONVENTIONS, type Convention, type Route } from './route.js';
export { toCheckRequest, CONTROL_HEADERS, HOP_HEADERS } from './check-request.js';
export { toHttpAnswer, REASON_HEADER, DECISION_ID_HEADER, STATUS_HEADER, ENVOY_HEADERS_TO_REMOVE, type HttpAnswer } from './answer.js';
export { startHttpServer, type Check, type HttpRequestCounts, type HttpServer, type HttpServerOptions } from './server.js';
