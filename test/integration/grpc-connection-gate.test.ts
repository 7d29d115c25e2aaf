import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { openConnectionGate, prefaceState, type ConnectionGate, type ConnectionRefusal } from '../../src/grpc/connection-gate.js';
import { CLIENT_PREFACE, FRAME, frame, grpcHeaders, PREFACE_MAGIC } from '../../testkit/h2-raw.js';
import { sleep, until } from '../../testkit/wait.js';

const settings = (payload: Buffer, flags = 0, stream = 0) => frame(FRAME.SETTINGS, flags, stream, payload);

describe('prefaceState', () => {
  it('is complete once the magic and a whole SETTINGS frame are in, whatever follows', () => {
    assert.deepEqual(prefaceState(CLIENT_PREFACE), { state: 'complete' });
    const withValues = Buffer.concat([PREFACE_MAGIC, settings(Buffer.from('000300000064000400010000', 'hex'))]);
    assert.deepEqual(prefaceState(withValues), { state: 'complete' });
    assert.deepEqual(prefaceState(Buffer.concat([withValues, grpcHeaders(1, '/x')])), { state: 'complete' });
  });

  it('is partial, with the bytes it needs at least, on a prefix', () => {
    assert.deepEqual(prefaceState(Buffer.alloc(0)), { state: 'partial', needed: 33 });
    assert.deepEqual(prefaceState(PREFACE_MAGIC.subarray(0, 10)), { state: 'partial', needed: 33 });
    assert.deepEqual(prefaceState(Buffer.concat([PREFACE_MAGIC, Buffer.from([0, 0])])), { state: 'partial', needed: 33 });
    const withValues = Buffer.concat([PREFACE_MAGIC, settings(Buffer.alloc(12))]);
    assert.deepEqual(prefaceState(withValues.subarray(0, 40)), { state: 'partial', needed: 45 });
  });

  it('is bad on another protocol or a first frame that is not a plain SETTINGS', () => {
    assert.deepEqual(prefaceState(Buffer.from('GET / HTTP/1.1\r\n')), { state: 'bad' });
    assert.deepEqual(prefaceState(Buffer.from('PRI * HTTP/1.1')), { state: 'bad' });
    assert.deepEqual(prefaceState(Buffer.concat([PREFACE_MAGIC, frame(0x6, 0, 0, Buffer.alloc(8))])), { state: 'bad' }, 'PING first');
    assert.deepEqual(prefaceState(Buffer.concat([PREFACE_MAGIC, settings(Buffer.alloc(0), 0x1)])), { state: 'bad' }, 'an ACK');
    assert.deepEqual(prefaceState(Buffer.concat([PREFACE_MAGIC, settings(Buffer.alloc(0), 0, 1)])), { state: 'bad' }, 'on a stream');
    assert.deepEqual(prefaceState(Buffer.concat([PREFACE_MAGIC, settings(Buffer.alloc(5))])), { state: 'bad' }, 'not a multiple of 6');
    assert.deepEqual(prefaceState(Buffer.concat([PREFACE_MAGIC, settings(Buffer.alloc(16_386))])), { state: 'bad' }, 'over the initial frame size');
  });
});

interface Harness {
  gate: ConnectionGate;
  admitted: Socket[];
  refusals: ConnectionRefusal[];
  connectClient(host?: string): Promise<Socket>;
}

async function harness(handshakeTimeoutMs: number, maxConnections: number, address = '127.0.0.1:0'): Promise<Harness> {
  const admitted: Socket[] = [];
  const refusals: ConnectionRefusal[] = [];
  const gate = await openConnectionGate({
    address,
    limits: { handshakeTimeoutMs, maxConnections },
    admit: (socket) => admitted.push(socket),
    onRefused: (reason) => refusals.push(reason),
  });
  const connectClient = (host = '127.0.0.1') =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(gate.port, host, () => resolve(socket));
      socket.setNoDelay(true);
      socket.on('error', reject);
    });
  return { gate, admitted, refusals, connectClient };
}

/** Everything readable on an admitted socket, until `length` bytes are in. */
async function readBack(socket: Socket, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  await until('the bytes put back', () => Buffer.concat(chunks).length >= length);
  return Buffer.concat(chunks);
}

/** Admitted sockets sit paused here (nothing consumes them as grpc-js would), so they are destroyed too. */
function close(h: Harness): void {
  h.gate.stopAccepting();
  h.gate.destroyAll();
}

const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));

describe('openConnectionGate', () => {
  it('admits a connection once its preface is in, with every byte read put back, however it was split', async () => {
    const h = await harness(5_000, 10);
    const request = Buffer.concat([CLIENT_PREFACE, grpcHeaders(1, '/grpc.health.v1.Health/Check')]);
    const whole = await h.connectClient();
    whole.write(request);
    await until('admitted', () => h.admitted.length === 1);
    assert.deepEqual(await readBack(h.admitted[0], request.length), request);

    const dribbled = await h.connectClient();
    for (let i = 0; i < CLIENT_PREFACE.length - 1; i++) {
      dribbled.write(CLIENT_PREFACE.subarray(i, i + 1));
      if (i % 8 === 0) await sleep(2);
    }
    await sleep(20);
    assert.equal(h.admitted.length, 1, 'one byte short of the preface: not admitted yet');
    dribbled.write(request.subarray(CLIENT_PREFACE.length - 1));
    await until('admitted', () => h.admitted.length === 2);
    assert.deepEqual(await readBack(h.admitted[1], request.length), request);
    assert.deepEqual(h.refusals, []);
    assert.equal(h.gate.connections, 2);
    for (const socket of [whole, dribbled]) socket.destroy();
    await until('both closed', () => h.gate.connections === 0);
    close(h);
  });

  it('closes a connection that sends nothing, or part of the preface, at the handshake timeout', async () => {
    const h = await harness(300, 10);
    const silent = await h.connectClient();
    const partial = await h.connectClient();
    partial.write(Buffer.concat([PREFACE_MAGIC, Buffer.from([0, 0, 6, 4])]));
    const started = Date.now();
    await Promise.all([closed(silent), closed(partial)]);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3_000, `closed after ${elapsed} ms`);
    assert.deepEqual(h.refusals, ['handshake_timeout', 'handshake_timeout']);
    assert.equal(h.admitted.length, 0);
    await until('no connection left', () => h.gate.connections === 0);
    close(h);
  });

  it('closes another protocol at its first wrong byte, not at the timeout', async () => {
    const h = await harness(60_000, 10);
    const http1 = await h.connectClient();
    http1.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const wrongFrame = await h.connectClient();
    wrongFrame.write(Buffer.concat([PREFACE_MAGIC, frame(0x6, 0, 0, Buffer.alloc(8))]));
    await Promise.all([closed(http1), closed(wrongFrame)]);
    assert.deepEqual(h.refusals, ['bad_preface', 'bad_preface']);
    close(h);
  });

  it('closes connections over maxConnections on accept, counting those in handshake, and takes new ones when some close', async () => {
    const h = await harness(60_000, 2);
    const first = await h.connectClient();
    const second = await h.connectClient();
    second.write(CLIENT_PREFACE);
    await until('second admitted', () => h.admitted.length === 1);
    const third = await h.connectClient();
    await closed(third);
    assert.deepEqual(h.refusals, ['connection_limit']);
    assert.equal(h.gate.connections, 2);
    first.destroy();
    await until('first gone', () => h.gate.connections === 1);
    const fourth = await h.connectClient();
    fourth.write(CLIENT_PREFACE);
    await until('fourth admitted', () => h.admitted.length === 2);
    assert.deepEqual(h.refusals, ['connection_limit']);
    for (const socket of [second, fourth]) socket.destroy();
    close(h);
  });

  it('stopAccepting closes the listener and connections in handshake, not admitted ones; destroyAll closes those', async () => {
    const h = await harness(60_000, 10);
    const waiting = await h.connectClient();
    const served = await h.connectClient();
    served.write(CLIENT_PREFACE);
    await until('admitted', () => h.admitted.length === 1);
    h.gate.stopAccepting();
    await closed(waiting);
    await assert.rejects(h.connectClient(), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
    assert.equal(served.closed, false);
    h.gate.destroyAll();
    await closed(served);
    assert.equal(h.gate.connections, 0);
  });

  it('listens on IPv6 literals and host names', async () => {
    for (const [address, host] of [
      ['[::1]:0', '::1'],
      ['localhost:0', '127.0.0.1'],
    ] as const) {
      const h = await harness(5_000, 10, address);
      const socket = await h.connectClient(host);
      socket.write(CLIENT_PREFACE);
      await until(`admitted on ${address}`, () => h.admitted.length === 1);
      socket.destroy();
      close(h);
    }
  });
});
