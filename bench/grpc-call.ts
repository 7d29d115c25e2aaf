/**
 * One unary gRPC call over a fresh HTTP/2 connection, sending exactly the bytes a load
 * generator sends. h2load counts any HTTP 200 as a success, and a gRPC error is an HTTP 200
 * with a `grpc-status` trailer, so the harness looks at a real answer before trusting a run.
 */
import { connect, constants } from 'node:http2';
import { CHECK_PATH } from './request.js';

export interface UnaryResult {
  readonly httpStatus: number;
  readonly grpcStatus: number;
  readonly grpcMessage: string;
  /** The response message without its 5-byte gRPC frame header. */
  readonly message: Buffer;
}

export const GRPC_REQUEST_HEADERS = Object.freeze({
  [constants.HTTP2_HEADER_METHOD]: 'POST',
  [constants.HTTP2_HEADER_PATH]: CHECK_PATH,
  'content-type': 'application/grpc',
  te: 'trailers',
});

export function unaryCall(port: number, body: Buffer, timeoutMs = 5_000): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    const fail = (error: Error) => {
      session.destroy();
      reject(error);
    };
    session.once('error', fail);
    const timer = setTimeout(() => fail(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)), timeoutMs);
    const stream = session.request(GRPC_REQUEST_HEADERS);
    let httpStatus = 0;
    let grpcStatus = -1;
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    const readStatus = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) grpcStatus = Number(headers['grpc-status']);
      if (typeof headers['grpc-message'] === 'string') grpcMessage = decodeURIComponent(headers['grpc-message']);
    };
    stream.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      readStatus(headers);
    });
    stream.on('trailers', readStatus);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', fail);
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      const frame = Buffer.concat(chunks);
      resolve({ httpStatus, grpcStatus, grpcMessage, message: frame.subarray(5, 5 + (frame.length >= 5 ? frame.readUInt32BE(1) : 0)) });
    });
    stream.end(body);
  });
}
