import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadHealthProto } from '../../src/grpc/protos.js';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  WireError,
} from '../../src/grpc/wire/health.js';

/** protobufjs, through the same loader the CLI and tests use, as the reference. */
const reference = loadHealthProto().grpc.health.v1.Health.service.Check;

describe('grpc.health.v1 codec', () => {
  it('encodes every serving status byte for byte as protobufjs', () => {
    for (const status of ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const) {
      assert.deepEqual(encodeHealthCheckResponse({ status }), reference.responseSerialize({ status }), status);
      assert.deepEqual(
        decodeHealthCheckResponse(encodeHealthCheckResponse({ status })),
        status === 'UNKNOWN' ? { status } : reference.responseDeserialize(reference.responseSerialize({ status })),
      );
    }
    assert.deepEqual(encodeHealthCheckResponse({}), Buffer.alloc(0));
    assert.throws(() => encodeHealthCheckResponse({ status: 'BOGUS' as never }), TypeError);
  });

  it('decodes requests as protobufjs does, skipping unknown fields', () => {
    for (const service of ['', 'envoy.service.auth.v3.Authorization', 'ünïcode']) {
      const bytes = reference.requestSerialize({ service });
      assert.deepEqual(decodeHealthCheckRequest(bytes), reference.requestDeserialize(bytes));
      assert.deepEqual(encodeHealthCheckRequest({ service }), bytes);
    }
    assert.deepEqual(decodeHealthCheckRequest(Buffer.alloc(0)), {});
    // field 2 (varint 7), then service "x": the unknown field is skipped.
    assert.deepEqual(decodeHealthCheckRequest(Buffer.from([0x10, 0x07, 0x0a, 0x01, 0x78])), { service: 'x' });
  });

  it('refuses bytes that are not a HealthCheckRequest with a WireError', () => {
    for (const bytes of [[0x0a, 0x05, 0x61], [0x08, 0x01], [0x0a]]) assert.throws(() => decodeHealthCheckRequest(Buffer.from(bytes)), WireError);
  });
});
