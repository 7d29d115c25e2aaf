import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { splitAddress } from '../shared/index.js';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse } from '../generated/envoy/service/auth/v3/CheckResponse.js';
import { toCheckRequest } from './check-request.js';
import { toHttpAnswer, type HttpAnswer } from './answer.js';
import { parseRoute, type Convention } from './route.js';

/** The Check handler the gRPC server serves (grpc/check.ts); it never throws. */
export type Check = (request: CheckRequest__Output) => CheckResponse | Promise<CheckResponse>;

export interface HttpServerOptions {
  /** host:port; port 0 picks a free one. */
  readonly address: string;
  readonly check: Check;
  /** Open connections; node closes any more on accept. */
  readonly maxConnections: number;
  /** From a request's first byte to the end of its head; also the whole request's bound (no body is read). */
  readonly headersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open; above the proxy's own idle timeout, so the proxy closes first. */
  readonly keepAliveTimeoutMs: number;
  /** `request.maxHeaderBytes`: node's cap on a request head is set above it, so the Check's limit answers first, with its reason. */
  readonly maxHeaderBytes: number;
  /** `request.maxHeaders`, for the same margin. */
  readonly maxHeaders: number;
  /** A Check that threw or rejected (a bug: the handler never does); the answer is a 500 deny either way. */
  readonly onCheckError?: (error: unknown) => void;
}

/** Auth requests per convention since start; `unknown`: a URL that is no endpoint (404). */
export type HttpRequestCounts = Readonly<Record<Convention | 'unknown', number>>;

export interface HttpServer {
  readonly port: number;
  readonly requests: HttpRequestCounts;
  /** Stops accepting, answers what is in flight (with Connection: close), force-closes after `timeoutMs`. */
  drain(timeoutMs: number): Promise<'drained' | 'forced'>;
}

const NOT_FOUND: HttpAnswer = Object.freeze({
  status: 404,
  headers: Object.freeze({ 'content-type': 'application/json' }),
  body: JSON.stringify({ error: 'not_found', reason: 'not_an_endpoint' }),
});

/** What a Check that failed outright (a bug) answers: a deny, never an allow, with no detail. */
function internalError(convention: Convention): HttpAnswer {
  return toHttpAnswer(
    {
      status: { code: 13 },
      denied_response: {
        status: { code: 500 as never },
        headers: [{ header: { key: 'content-type', value: 'application/json' } }],
        body: JSON.stringify({ error: 'internal', reason: 'internal_error', request_id: '' }),
      },
      dynamic_metadata: { fields: { reason: { stringValue: 'internal_error' } } },
    },
    convention,
  );
}

/**
 * The forward-auth listener: HTTP/1.1 on node:http, one Check per request, answered in the
 * convention its URL names (route.ts). Request bodies are never read; node's own limits (head
 * size, header count, timeouts) are set around the Check's so that they only catch what the
 * Check could not answer: a head too large or too slow to parse.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const requests = { envoy: 0, nginx: 0, forward_auth: 0, unknown: 0 };
  let draining = false;

  const send = (res: ServerResponse, answer: HttpAnswer, close: boolean): void => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) };
    if (close || draining) headers.connection = 'close';
    try {
      res.writeHead(answer.status, headers).end(answer.body);
    } catch (error) {
      // node refuses a header it cannot write (a name or value the Check should never make):
      // a bare 500, never an allow, and never an exception out of the request listener.
      options.onCheckError?.(error);
      if (!res.headersSent) res.writeHead(500, { 'content-length': 0, connection: 'close' }).end();
      else res.destroy();
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const route = parseRoute(req.url ?? '');
    if (route === null) {
      requests.unknown++;
      send(res, NOT_FOUND, false);
      return;
    }
    const convention = route.convention;
    requests[convention]++;
    // The body is not read: proxies send none (nginx's config drops it; Envoy, Traefik and
    // Caddy send none unless told to). A request that has one ends its connection instead of
    // being drained from it.
    const close = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const failed = (error: unknown) => {
      options.onCheckError?.(error);
      send(res, internalError(convention), close);
    };
    let result: CheckResponse | Promise<CheckResponse>;
    try {
      result = options.check(toCheckRequest(route, req.method ?? '', req.rawHeaders));
    } catch (error) {
      failed(error);
      return;
    }
    if (result instanceof Promise) result.then((response) => send(res, toHttpAnswer(response, convention), close), failed);
    else send(res, toHttpAnswer(result, convention), close);
  };

  const server = createServer(
    {
      // Above the Check's own limits (names + values, plus ": " and CRLF per line and the
      // request line), so an oversized head is refused by the Check, with its reason code.
      maxHeaderSize: options.maxHeaderBytes + 4 * options.maxHeaders + 16 * 1024,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.headersTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      // node checks the two timeouts on this interval (30 s by default).
      connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(options.headersTimeoutMs / 4))),
      noDelay: true,
    },
    handle,
  );
  // node drops the headers past maxHeadersCount without a word; the Check counts them instead.
  server.maxHeadersCount = 0;
  server.maxConnections = options.maxConnections;
  server.on('clientError', refuse);

  const { host, port } = splitAddress(options.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    requests,
    drain: (timeoutMs) => {
      draining = true;
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
          resolve('forced');
        }, timeoutMs);
        server.close(() => {
          clearTimeout(timer);
          resolve('drained');
        });
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * A request node could not parse (no Check was made): 431 for a head over node's cap, 408 for
 * one that did not arrive in time, else 400. The connection is closed; nothing of the request
 * or the error is echoed.
 */
function refuse(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const code = status === 431 ? 'header_too_large' : 'malformed_request';
  const body = status === 408 ? '' : JSON.stringify({ error: 'bad_request', reason: code });
  const reason = status === 408 ? '' : `x-authz-reason: ${code}\r\n`;
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n${reason}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
}
