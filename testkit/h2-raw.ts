/**
 * HTTP/2 spoken by hand over a raw TCP socket, for what no well-behaved client does: stop in
 * the middle of the preface, dribble it, or open more streams than the server allows.
 */
import { connect, type Socket } from 'node:net';
import { until } from './wait.js';

export const PREFACE_MAGIC = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const ERROR = { PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, REFUSED_STREAM: 0x7 } as const;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** The whole client preface: magic, then an empty SETTINGS frame. */
export const CLIENT_PREFACE = Buffer.concat([PREFACE_MAGIC, frame(FRAME.SETTINGS, 0, 0)]);

/** HPACK "literal header field without indexing, new name" (RFC 7541 §6.2.2); names and values under 127 bytes. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

/** A gRPC request's HEADERS frame for `path`, leaving the stream open for its message. */
export function grpcHeaders(stream: number, path: string): Buffer {
  const block = Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', 'http'),
    literal(':path', path),
    literal(':authority', 'authz'),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
  ]);
  return frame(FRAME.HEADERS, FLAG.END_HEADERS, stream, block);
}

/** An empty gRPC message (flag 0, length 0) that ends the stream. */
export function emptyGrpcMessage(stream: number): Buffer {
  return frame(FRAME.DATA, FLAG.END_STREAM, stream, Buffer.alloc(5));
}

/** A raw connection that records every frame the server sends and when it closed. */
export class RawH2Connection {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  readonly opened = Date.now();
  closedAt: number | undefined;
  #pending = Buffer.alloc(0);

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.socket.on('data', (chunk: Buffer) => this.#read(chunk));
    this.socket.once('close', () => (this.closedAt = Date.now()));
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('close', () => reject(new Error('closed before connecting')));
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Resolves when the server closed the connection; the time from opening it, in ms. */
  async closedWithin(timeoutMs: number): Promise<number> {
    await until('the server closes the connection', () => this.closed, timeoutMs);
    return this.closedAt! - this.opened;
  }

  async waitFor(what: string, predicate: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    await until(what, () => this.frames.some(predicate), timeoutMs);
    return this.frames.find(predicate)!;
  }

  /** The server's first SETTINGS frame, as id → value. */
  async serverSettings(): Promise<Map<number, number>> {
    const settings = await this.waitFor('server SETTINGS', (f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0);
    const values = new Map<number, number>();
    for (let at = 0; at + 6 <= settings.payload.length; at += 6) values.set(settings.payload.readUInt16BE(at), settings.payload.readUInt32BE(at + 2));
    return values;
  }

  async maxConcurrentStreams(): Promise<number | undefined> {
    return (await this.serverSettings()).get(SETTINGS_MAX_CONCURRENT_STREAMS);
  }

  /** RST_STREAM frames received, as stream → error code. */
  resets(): Map<number, number> {
    return new Map(this.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => [f.stream, f.payload.readUInt32BE(0)]));
  }

  goaway(): { lastStream: number; code: number } | undefined {
    const f = this.frames.find((x) => x.type === FRAME.GOAWAY);
    return f === undefined ? undefined : { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  destroy(): void {
    this.socket.destroy();
  }

  #read(chunk: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 9) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < 9 + length) return;
      this.frames.push({
        type: this.#pending[3],
        flags: this.#pending[4],
        stream: this.#pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.#pending.subarray(9, 9 + length),
      });
      this.#pending = this.#pending.subarray(9 + length);
    }
  }
}
