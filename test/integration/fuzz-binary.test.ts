import { describe, it } from 'node:test';
import { runQuick } from '../fuzz/properties.js';

/* Quick run against the real binary: raw gRPC bytes, and --check-config on mutated documents. */
describe('fuzz: the real sidecar binary', () => {
  it('answers every raw gRPC call with a CheckResponse or the expected clean status, and still serves afterwards', (t) =>
    runQuick('binary/grpc-raw', (m) => t.diagnostic(m)));
  it('--check-config on mutated configs and policies: exit 0 "ok", or exit 2 with one line on stderr', (t) =>
    runQuick('binary/check-config', (m) => t.diagnostic(m)));
});
