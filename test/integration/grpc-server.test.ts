import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';
import type { CheckHandler } from '../../src/grpc/check.js';
import { HealthService } from '../../src/grpc/health.js';
import { loadAuthProto, loadHealthProto } from '../../src/grpc/protos.js';
import { allowResponse } from '../../src/grpc/response.js';
import { TRANSPORT } from '../../testkit/grpc-transport.js';
import { startGrpcServer, type GrpcServer } from '../../src/grpc/server.js';
import { CLIENT_PREFACE, emptyGrpcMessage, FRAME, grpcHeaders, RawH2Connection } from '../../testkit/h2-raw.js';
import { sleep } from '../../testkit/wait.js';

const auth = loadAuthProto();
const healthProto = loadHealthProto();

/** Answers allow, echoing the request path into the metadata's rule field. */
const echo: CheckHandler = (request: CheckRequest__Output) =>
  allowResponse({
    caller: { set: [['x-auth-subject', 'alice']], remove: ['x-auth-principal'] },
    metadata: { decisionId: 'd', policy: 'p', policyRevision: 'r', rule: request.attributes?.request?.http?.path ?? null, reason: 'allowed_by_rule' },
  });

async function serve(
  check: CheckHandler,
  maxMessageBytes = 64 * 1024,
): Promise<{
  server: GrpcServer;
  health: HealthService;
  call: (path?: string, pad?: string) => Promise<CheckResponse__Output>;
  close: () => void;
  address: string;
}> {
  const health = new HealthService();
  const server = await startGrpcServer({ address: '127.0.0.1:0', maxMessageBytes, transport: TRANSPORT, check, health });
  const address = `127.0.0.1:${server.port}`;
  const client = new auth.envoy.service.auth.v3.Authorization(address, credentials.createInsecure());
  const call = (path = '/x', pad = '') =>
    new Promise<CheckResponse__Output>((resolve, reject) =>
      client.Check(
        { attributes: { request: { http: { method: 'GET', path, headers: { pad } } } } },
        { deadline: Date.now() + 5_000 },
        (error: ServiceError | null, response?: CheckResponse__Output) => (error ? reject(error) : resolve(response!)),
      ),
    );
  return { server, health, call, close: () => client.close(), address };
}

describe('startGrpcServer', () => {
  it('binds a free port and serves Check with the typed request and response', async () => {
    const { server, call, close } = await serve(echo);
    assert.ok(server.port > 0);
    const response = await call('/api/orders');
    assert.equal(response.status?.code, 0);
    assert.deepEqual(
      response.ok_response?.headers?.map((h) => [h.header?.key, h.header?.value, h.append_action]),
      [['x-auth-subject', 'alice', 'OVERWRITE_IF_EXISTS_OR_ADD']],
    );
    assert.deepEqual(response.ok_response?.headers_to_remove, ['x-auth-principal']);
    assert.equal(response.dynamic_metadata?.fields?.rule?.stringValue, '/api/orders');
    close();
    assert.equal(await server.drain(2_000), 'drained');
  });

  it('serves grpc.health.v1 on the same port', async () => {
    const { server, health, address, close } = await serve(echo);
    const client = new healthProto.grpc.health.v1.Health(address, credentials.createInsecure());
    const probe = () =>
      new Promise<string>((resolve, reject) =>
        client.Check({ service: '' }, (e: ServiceError | null, r?: { status?: string }) => (e ? reject(e) : resolve(String(r?.status)))),
      );
    assert.equal(await probe(), 'NOT_SERVING');
    health.set(true);
    assert.equal(await probe(), 'SERVING');
    client.close();
    close();
    assert.equal(await server.drain(2_000), 'drained');
  });

  it('refuses a CheckRequest over maxMessageBytes', async () => {
    const { server, call, close } = await serve(echo, 4_096);
    await assert.rejects(call('/x', 'p'.repeat(8_192)), (error: ServiceError) => error.code === status.RESOURCE_EXHAUSTED);
    assert.equal((await call('/small')).status?.code, 0);
    close();
    await server.drain(2_000);
  });

  it('a rejected handler promise is a gRPC INTERNAL error, not a response', async () => {
    const { server, call, close } = await serve(() => Promise.reject(new Error('bug')));
    await assert.rejects(call(), (error: ServiceError) => error.code === status.INTERNAL && error.details === 'bug');
    close();
    await server.drain(2_000);
  });
});

describe('startGrpcServer: the connection gate in front of grpc-js', () => {
  it('serves a client whose preface and request arrive a byte at a time (the bytes the gate read reach grpc-js)', async () => {
    const { server, health, close } = await serve(echo);
    health.set(true);
    const raw = new RawH2Connection(server.port);
    await raw.connected();
    raw.socket.setNoDelay(true);
    const request = Buffer.concat([CLIENT_PREFACE, grpcHeaders(1, '/grpc.health.v1.Health/Check'), emptyGrpcMessage(1)]);
    for (let i = 0; i < request.length; i++) {
      raw.write(request.subarray(i, i + 1));
      if (i % 16 === 0) await sleep(1);
    }
    // grpc.health.v1 HealthCheckResponse { status: SERVING (1) }: field 1 varint 1, after the 5-byte gRPC prefix.
    const data = await raw.waitFor('the response message', (f) => f.type === FRAME.DATA && f.stream === 1);
    assert.deepEqual(data.payload, Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    assert.deepEqual(raw.resets(), new Map());
    assert.equal(server.connections, 1);
    raw.destroy();
    close();
    assert.equal(await server.drain(2_000), 'drained');
  });
});

describe('GrpcServer.drain', () => {
  it("resolves 'drained' at once with no calls in flight, turns health NOT_SERVING and stops serving", async () => {
    const { server, health, call, close } = await serve(echo);
    health.set(true);
    await call();
    const started = Date.now();
    assert.equal(await server.drain(5_000), 'drained');
    assert.ok(Date.now() - started < 2_000, 'did not wait for the timeout');
    await assert.rejects(call(), (error: ServiceError) => error.code === status.UNAVAILABLE);
    close();
  });

  it('lets an in-flight Check finish before resolving', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { server, call, close } = await serve((request) => gate.then(() => echo(request)));
    const inFlight = call('/slow');
    await sleep(50);
    let drained: string | undefined;
    const draining = server.drain(5_000).then((result) => (drained = result));
    await sleep(50);
    assert.equal(drained, undefined, 'waits for the call');
    release();
    assert.equal((await inFlight).dynamic_metadata?.fields?.rule?.stringValue, '/slow');
    await draining;
    assert.equal(drained, 'drained');
    close();
  });

  it("force-closes after the timeout: 'forced'", async () => {
    const { server, call, close } = await serve(() => new Promise(() => {}));
    const stuck = call().catch((error: ServiceError) => error.code);
    await sleep(50);
    assert.equal(await server.drain(100), 'forced');
    assert.notEqual(await stuck, 0);
    close();
  });

  it('is not held open by Watch streams, including one for an unknown service', async () => {
    const { server, address, close } = await serve(echo);
    const client = new healthProto.grpc.health.v1.Health(address, credentials.createInsecure());
    const watches = ['', 'grpc.other.Service'].map((service) => {
      const stream = client.Watch({ service });
      const first = new Promise<string>((resolve) => stream.once('data', (m: { status?: string }) => resolve(String(m.status))));
      stream.on('error', () => {});
      return first;
    });
    assert.deepEqual(await Promise.all(watches), ['NOT_SERVING', 'SERVICE_UNKNOWN']);
    const result = await server.drain(1_000);
    client.close();
    close();
    assert.equal(result, 'drained');
  });
});
