import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecisionLog } from '../../src/control/decision-log.js';
import type { DecisionRecord } from '../../src/grpc/index.js';

function record(i: number, decision: 'allow' | 'deny' = 'deny'): DecisionRecord {
  return {
    decision_id: `d${i}`,
    request_id: `r${i}`,
    service: 'orders',
    at: '',
    decision,
    reason: 'default_deny',
    rule: null,
    policy_revision: '1',
    method: 'GET',
    host: 'h',
    path: '/',
    subject: null,
    issuer: null,
    principal: null,
  };
}

function publisher(connected: boolean) {
  const sent: string[] = [];
  return { sent, connected, publish: (_subject: string, data: Uint8Array) => void sent.push(JSON.parse(Buffer.from(data).toString()).decision_id) };
}

describe('DecisionLog', () => {
  it('buffers while disconnected, drops the oldest beyond maxBuffer, and publishes in order once connected', () => {
    const pub = publisher(false);
    let dropped = 0;
    const log = new DecisionLog({ subject: () => 's', sampleAllows: 0, maxBuffer: 3, publisher: pub, onDrop: (n) => (dropped += n), flushIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) log.record(record(i));
    log.flush();
    assert.deepEqual(pub.sent, []);
    assert.equal(log.pending, 3);
    assert.equal(dropped, 2);
    pub.connected = true;
    log.flush();
    assert.deepEqual(pub.sent, ['d2', 'd3', 'd4']);
    assert.equal(log.pending, 0);
    log.stop();
  });

  it('always wants denies and samples allows', () => {
    let r = 0.5;
    const log = new DecisionLog({ subject: () => 's', sampleAllows: 0.1, maxBuffer: 1, publisher: publisher(true), onDrop: () => {}, random: () => r });
    assert.equal(log.wants(false), true);
    assert.equal(log.wants(true), false);
    r = 0.05;
    assert.equal(log.wants(true), true);
    log.stop();
  });

  it('keeps a record when publish throws mid-flush', () => {
    const pub = {
      connected: true,
      publish: () => {
        throw new Error('closed');
      },
    };
    const log = new DecisionLog({ subject: () => 's', sampleAllows: 0, maxBuffer: 2, publisher: pub, onDrop: () => {}, flushIntervalMs: 60_000 });
    log.record(record(1));
    log.flush();
    assert.equal(log.pending, 1);
    log.stop();
  });
});
