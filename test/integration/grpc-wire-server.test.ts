import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import type { CheckHandler } from '../../src/grpc/check.js';
import { HealthService } from '../../src/grpc/health.js';
import { allowResponse, denyResponse } from '../../src/grpc/response.js';
import { TRANSPORT } from '../../testkit/grpc-transport.js';
import { startGrpcServer } from '../../src/grpc/server.js';
import { EnvoyClient, envoyRequest, headerOf, httpStatus } from '../../testkit/envoy-client.js';

/*
 * The hand-written codec inside the real gRPC server: Envoy-shaped calls (a client built from
 * Envoy's own protos) round-trip, and bytes that do not decode fail that one call with
 * INTERNAL — the handler never sees them and the server keeps serving.
 */

const CHECK = '/envoy.service.auth.v3.Authorization/Check';
const META = { decisionId: 'd-1', policy: 'orders', policyRevision: 'r1', rule: null, reason: 'allowed_by_rule' };

async function serve(check: CheckHandler) {
  const server = await startGrpcServer({ address: '127.0.0.1:0', maxMessageBytes: 64 * 1024, transport: TRANSPORT, check, health: new HealthService() });
  const address = `127.0.0.1:${server.port}`;
  const raw = new Client(address, credentials.createInsecure());
  /** Sends `bytes` as the request message as they are, returning the raw response bytes. */
  const send = (bytes: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      raw.makeUnaryRequest(
        CHECK,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        { deadline: Date.now() + 5_000 },
        (error: ServiceError | null, response?: Buffer) => (error ? reject(error) : resolve(response!)),
      ),
    );
  return { server, address, send, close: () => raw.close() };
}

describe('Authorization/Check with the wire codec', () => {
  it('answers Envoy-shaped requests; the handler sees the decoded subset', async () => {
    const seen: CheckRequest__Output[] = [];
    const { server, address, close } = await serve((request) => {
      seen.push(request);
      const path = request.attributes?.request?.http?.path ?? '';
      return path === '/deny'
        ? denyResponse({
            kind: 'forbidden',
            reason: 'default_deny',
            requestId: request.attributes?.request?.http?.id ?? '',
            realm: 'orders',
            metadata: { ...META, reason: 'default_deny' },
          })
        : allowResponse({ caller: { set: [['x-auth-subject', 'alice']], remove: ['x-auth-principal'] }, metadata: META });
    });
    const envoy = new EnvoyClient(address);
    try {
      const allowed = await envoy.check(
        envoyRequest({ path: '/api/orders', rawHeaders: [['x-bin', Buffer.from([0xff])]], principal: 'spiffe://cluster.local/ns/a/sa/b' }),
      );
      assert.equal(allowed.status.code, 0);
      assert.equal(headerOf(allowed.ok_response?.headers, 'x-auth-subject'), 'alice');
      assert.deepEqual(allowed.ok_response?.headers_to_remove, ['x-auth-principal']);
      assert.equal(allowed.dynamic_metadata?.fields.rule.nullValue, 'NULL_VALUE');

      const denied = await envoy.check(envoyRequest({ path: '/deny', id: 'req-9' }));
      assert.equal(denied.status.code, 7);
      assert.equal(httpStatus(denied), 403);
      assert.deepEqual(JSON.parse(denied.denied_response!.body), { error: 'forbidden', reason: 'default_deny', request_id: 'req-9' });

      const first = seen[0].attributes!;
      assert.equal(first.source?.principal, 'spiffe://cluster.local/ns/a/sa/b');
      assert.equal(first.source?.address?.socket_address?.port_value, 51000);
      assert.equal(first.destination, undefined, 'unread fields are not decoded');
      assert.deepEqual([...(first.request?.http?.header_map?.headers?.find((h) => h.key === 'x-bin')?.raw_value ?? [])], [0xff]);
    } finally {
      envoy.close();
      close();
      await server.drain(2_000);
    }
  });

  it('bytes that do not decode fail that call with INTERNAL; the handler is not called and the server keeps serving', async () => {
    let calls = 0;
    const { server, send, close } = await serve(() => {
      calls++;
      return allowResponse({ caller: { set: [], remove: [] }, metadata: META });
    });
    try {
      const garbage = [
        Buffer.from([0xff, 0xff, 0xff]), // varint cut short
        Buffer.from([0x0a, 0x7f, 0x01]), // length past the end
        Buffer.from([0x0b]), // a group
        Buffer.from([0x08, 0x01]), // attributes as a varint
        Buffer.from([0x00]), // field 0
        Buffer.alloc(64, 0x80), // an endless varint
      ];
      const results = await Promise.allSettled(garbage.map((bytes) => send(bytes)));
      for (const [i, result] of results.entries()) {
        assert.equal(result.status, 'rejected', `garbage #${i}`);
        assert.equal(result.reason.code, status.INTERNAL, `garbage #${i}`);
      }
      assert.equal(calls, 0);
      // An empty message is a valid (empty) CheckRequest, and a good one still works.
      const empty = await send(Buffer.alloc(0));
      assert.ok(empty.length > 0);
      const good = await send(Buffer.from([0x0a, 0x00]));
      assert.ok(good.length > 0);
      assert.equal(calls, 2);
    } finally {
      close();
      await server.drain(2_000);
    }
  });
});
