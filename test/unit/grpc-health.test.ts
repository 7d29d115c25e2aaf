import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials, credentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { AUTHORIZATION_SERVICE, HealthService } from '../../src/grpc/health.js';
import { loadHealthProto } from '../../src/grpc/protos.js';
import type { HealthClient } from '../../src/generated/grpc/health/v1/Health.js';
import type { HealthCheckResponse__Output } from '../../src/generated/grpc/health/v1/HealthCheckResponse.js';
import { until } from '../../testkit/wait.js';

const proto = loadHealthProto();

describe('HealthService over a real gRPC server', () => {
  const health = new HealthService();
  const server = new Server();
  let client: HealthClient;

  before(async () => {
    server.addService(proto.grpc.health.v1.Health.service, health.handlers);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = new proto.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  const check = (service: string): Promise<string> =>
    new Promise((resolve, reject) =>
      client.Check({ service }, { deadline: Date.now() + 5_000 }, (error: ServiceError | null, response?: HealthCheckResponse__Output) =>
        error ? reject(error) : resolve(String(response?.status)),
      ),
    );

  function watch(service: string): { stream: ClientReadableStream<HealthCheckResponse__Output>; seen: string[] } {
    const stream = client.Watch({ service });
    const seen: string[] = [];
    stream.on('data', (m: HealthCheckResponse__Output) => seen.push(String(m.status)));
    stream.on('error', () => {}); // cancellation at the end of a test
    return { stream, seen };
  }

  it('is NOT_SERVING until set(true), for "" and the Authorization service', async () => {
    assert.equal(await check(''), 'NOT_SERVING');
    assert.equal(await check(AUTHORIZATION_SERVICE), 'NOT_SERVING');
    health.set(true);
    assert.equal(await check(''), 'SERVING');
    assert.equal(await check(AUTHORIZATION_SERVICE), 'SERVING');
    health.set(false);
    assert.equal(await check(''), 'NOT_SERVING');
  });

  it('answers NOT_FOUND for an unknown service', async () => {
    await assert.rejects(check('grpc.other.Service'), (error: ServiceError) => error.code === status.NOT_FOUND);
  });

  it('Watch sends the current status, then every transition, and nothing for a no-op set', async () => {
    health.set(false);
    const { stream, seen } = watch(AUTHORIZATION_SERVICE);
    await until('initial status', () => seen.length === 1);
    health.set(true);
    await until('SERVING', () => seen.length === 2);
    health.set(true); // no change: no message
    health.set(false);
    await until('NOT_SERVING', () => seen.length === 3);
    stream.cancel();
    assert.deepEqual(seen, ['NOT_SERVING', 'SERVING', 'NOT_SERVING']);
  });

  it('Watch for an unknown service says SERVICE_UNKNOWN', async () => {
    const { stream, seen } = watch('grpc.other.Service');
    await until('SERVICE_UNKNOWN', () => seen.length === 1);
    stream.cancel();
    assert.deepEqual(seen, ['SERVICE_UNKNOWN']);
  });

  it('close() ends open Watch streams', { timeout: 5_000 }, async () => {
    const open = watch('');
    await until('first', () => open.seen.length === 1);
    const ended = new Promise<void>((resolve) => open.stream.on('end', () => resolve()));
    health.set(open.seen[0] !== 'SERVING');
    await until('transition', () => open.seen.length === 2);
    health.close();
    await ended;
    assert.notEqual(open.seen[0], open.seen[1]);
  });
});
