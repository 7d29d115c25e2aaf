import { lookup } from 'node:dns/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { splitAddress } from '../shared/index.js';

/**
 * What the gRPC listener admits. grpc-js has no handshake timeout and no connection cap:
 * its http2 server disables socket timeouts, so a connection that never sends the HTTP/2
 * preface holds a descriptor and a session for ever.
 */
export interface TransportLimits {
  /** From accept to a complete client preface (magic and first SETTINGS frame). */
  readonly handshakeTimeoutMs: number;
  /** Open connections, in handshake or established; one more is closed on accept. */
  readonly maxConnections: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised on every connection (applied by grpc-js). */
  readonly maxConcurrentStreams: number;
}

/** Why the gate closed a connection; a stable code for the metric label. */
export type ConnectionRefusal = 'handshake_timeout' | 'bad_preface' | 'connection_limit';

export interface ConnectionGateOptions {
  readonly address: string;
  readonly limits: Pick<TransportLimits, 'handshakeTimeoutMs' | 'maxConnections'>;
  /** A socket whose preface arrived, with every byte read so far put back, for grpc-js. */
  readonly admit: (socket: Socket) => void;
  readonly onRefused?: (reason: ConnectionRefusal) => void;
}

export interface ConnectionGate {
  readonly port: number;
  /** Connections open now (in handshake or admitted). */
  readonly connections: number;
  /** Stops listening and closes connections still in handshake; admitted ones are left to grpc-js. */
  stopAccepting(): void;
  /** Destroys every connection still open. */
  destroyAll(): void;
}

/** RFC 9113 §3.4: the client preface is this, then a SETTINGS frame. */
const MAGIC = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The magic and the 9-byte header of the SETTINGS frame that must follow it. */
const PREFACE_HEADER_BYTES = MAGIC.length + 9;
const SETTINGS = 0x4;
const ACK = 0x1;
/** SETTINGS_MAX_FRAME_SIZE before any SETTINGS are exchanged (RFC 9113 §4.2). */
const INITIAL_MAX_FRAME_SIZE = 16_384;

/**
 * Listens on `address` (every address its host resolves to, as grpc-js would) and hands each
 * connection to `admit` once its client preface has arrived. A connection over the cap is
 * closed on accept; one that sends something else, or not all of it within the handshake
 * timeout, is closed then. Admitted connections count until they close.
 */
export async function openConnectionGate(options: ConnectionGateOptions): Promise<ConnectionGate> {
  const { handshakeTimeoutMs, maxConnections } = options.limits;
  const open = new Set<Socket>();
  const pending = new Set<Socket>();
  const refuse = (socket: Socket, reason: ConnectionRefusal) => {
    socket.destroy();
    options.onRefused?.(reason);
  };

  const onConnection = (socket: Socket) => {
    if (open.size >= maxConnections) return refuse(socket, 'connection_limit');
    open.add(socket);
    pending.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      pending.delete(socket);
    });
    awaitPreface(socket, handshakeTimeoutMs, (outcome) => {
      pending.delete(socket);
      if (outcome === 'ok') options.admit(socket);
      else refuse(socket, outcome);
    });
  };

  const servers = await listenAll(options.address, onConnection);
  const address = servers[0].address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    get connections() {
      return open.size;
    },
    stopAccepting() {
      for (const server of servers) server.close();
      for (const socket of pending) socket.destroy();
    },
    destroyAll() {
      for (const socket of open) socket.destroy();
    },
  };
}

/**
 * Reads the client preface. The magic is compared as bytes arrive, so another protocol is
 * closed at once; the frame is parsed when enough bytes are in, so a client dribbling bytes
 * costs no repeated copying. Everything read is put back (`unshift`) before the socket is
 * handed on: Node's http2 session feeds bytes already buffered on its socket to nghttp2 first.
 */
function awaitPreface(socket: Socket, timeoutMs: number, done: (outcome: 'ok' | 'handshake_timeout' | 'bad_preface') => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let needed = PREFACE_HEADER_BYTES;
  const finish = (outcome: 'ok' | 'handshake_timeout' | 'bad_preface') => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    if (outcome === 'ok') {
      // From here the http2 session handles the socket's errors; a refused socket keeps `ignore`.
      socket.off('error', ignore);
      socket.pause();
      socket.unshift(Buffer.concat(chunks, received));
    }
    done(outcome);
  };
  const onData = (chunk: Buffer) => {
    if (received < MAGIC.length) {
      const overlap = Math.min(chunk.length, MAGIC.length - received);
      if (!chunk.subarray(0, overlap).equals(MAGIC.subarray(received, received + overlap))) return finish('bad_preface');
    }
    chunks.push(chunk);
    received += chunk.length;
    if (received < needed) return;
    const preface = prefaceState(Buffer.concat(chunks, received));
    if (preface.state === 'partial') needed = preface.needed;
    else finish(preface.state === 'complete' ? 'ok' : 'bad_preface');
  };
  const onClose = () => clearTimeout(timer);
  const timer = setTimeout(() => finish('handshake_timeout'), timeoutMs);
  socket.on('data', onData);
  // Resets during the handshake are the client's business; the socket closes either way.
  socket.on('error', ignore);
  socket.once('close', onClose);
}

function ignore(): void {}

export type PrefaceState = { readonly state: 'complete' | 'bad' } | { readonly state: 'partial'; readonly needed: number };

/** Whether `bytes` start with a whole client preface, could still become one (and how many bytes that takes at least), or cannot. */
export function prefaceState(bytes: Buffer): PrefaceState {
  const magic = Math.min(bytes.length, MAGIC.length);
  if (!bytes.subarray(0, magic).equals(MAGIC.subarray(0, magic))) return { state: 'bad' };
  if (bytes.length < PREFACE_HEADER_BYTES) return { state: 'partial', needed: PREFACE_HEADER_BYTES };
  const header = bytes.subarray(MAGIC.length, PREFACE_HEADER_BYTES);
  const length = header.readUIntBE(0, 3);
  const type = header[3];
  const flags = header[4];
  const stream = header.readUInt32BE(5) & 0x7fffffff;
  if (type !== SETTINGS || (flags & ACK) !== 0 || stream !== 0 || length % 6 !== 0 || length > INITIAL_MAX_FRAME_SIZE) return { state: 'bad' };
  const total = PREFACE_HEADER_BYTES + length;
  return bytes.length >= total ? { state: 'complete' } : { state: 'partial', needed: total };
}

/** One listener per resolved address; with port 0, the others take the port the first got. */
async function listenAll(address: string, onConnection: (socket: Socket) => void): Promise<Server[]> {
  const { host, port: requested } = splitAddress(address);
  let port = requested;
  const resolved = await lookup(host, { all: true, verbatim: true });
  const servers: Server[] = [];
  let firstError: Error | undefined;
  for (const { address: ip } of resolved) {
    const server = createServer(onConnection);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: ip, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      firstError ??= error instanceof Error ? error : new Error(String(error));
      continue;
    }
    const bound = server.address();
    if (port === 0 && typeof bound === 'object' && bound !== null) port = bound.port;
    servers.push(server);
  }
  if (servers.length === 0) throw firstError ?? new Error(`${address}: no address to listen on`);
  return servers;
}
