import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/cli/command.js';
import { exitCodeFor, formatStatus, newestReports, parseExpect, parseStatusReport, statusRows, summarize } from '../../src/cli/commands/status.js';
import type { StatusReport } from '../../src/control/types.js';

function report(overrides: Partial<StatusReport> = {}): StatusReport {
  return {
    service: 'orders',
    instance: 'orders-7c9f-1',
    ready: true,
    revisions: { 'policy.orders': 4, 'keys.issuer.idp': 2 },
    lastError: null,
    connected: true,
    at: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const LATEST = new Map([
  ['policy.orders', { highest: 4, newest: 4 }],
  ['keys.issuer.idp', { highest: 2, newest: 2 }],
]);

describe('parseStatusReport', () => {
  it('accepts a StatusReport and ignores anything else', () => {
    assert.deepEqual(parseStatusReport(JSON.stringify(report())), report());
    assert.deepEqual(parseStatusReport(new TextEncoder().encode(JSON.stringify(report()))), report());
    for (const bad of [
      '',
      'not json',
      '[]',
      '{}',
      JSON.stringify({ ...report(), ready: 'yes' }),
      JSON.stringify({ ...report(), revisions: { a: '1' } }),
      JSON.stringify({ ...report(), lastError: { code: 1 } }),
    ])
      assert.equal(parseStatusReport(bad), null, bad);
  });
});

describe('newestReports', () => {
  it('keeps the newest report per service and instance, sorted', () => {
    const older = report({ revisions: { 'policy.orders': 3 } });
    const newer = report({ at: '2025-01-01T00:00:05.000Z' });
    const other = report({ service: 'billing', instance: 'b-1' });
    assert.deepEqual(newestReports([newer, other, older]), [other, newer]);
  });
});

describe('statusRows', () => {
  it('marks a key lagging when its applied revision is below the bucket latest', () => {
    const [row] = statusRows([report({ revisions: { 'policy.orders': 3, 'keys.issuer.idp': 2 } })], LATEST);
    assert.deepEqual(row.keys, [
      { key: 'keys.issuer.idp', applied: 2, latest: 2, lagging: false, rollback: false },
      { key: 'policy.orders', applied: 3, latest: 4, lagging: true, rollback: false },
    ]);
    assert.equal(row.converged, false);
  });

  it('does not count a key the bucket does not hold as lagging', () => {
    const [row] = statusRows([report({ revisions: { 'policy.orders': 4, 'keys.trust-domain.mesh': 1 } })], LATEST);
    assert.equal(row.keys[0].latest, null);
    assert.equal(row.converged, true);
  });

  it('is not converged when not ready or reporting an error', () => {
    assert.equal(statusRows([report({ ready: false })], LATEST)[0].converged, false);
    const lastError = { key: 'policy.orders', code: 'document_signature_invalid', message: 'x', at: '2025-01-01T00:00:00Z' };
    assert.equal(statusRows([report({ lastError })], LATEST)[0].converged, false);
  });
});

describe('formatStatus and exitCodeFor', () => {
  it('prints one row per sidecar with applied/latest, LAG and the last error', () => {
    const lastError = { key: 'policy.orders', code: 'document_stale', message: 'x', at: '2025-01-01T00:00:00Z' };
    const rows = statusRows(
      [
        report(),
        report({ instance: 'orders-7c9f-2', revisions: { 'policy.orders': 3, 'keys.issuer.idp': 2 }, connected: false, lastError }),
        report({ service: 'billing', instance: 'b-1', ready: false, revisions: {} }),
      ],
      LATEST,
    );
    assert.equal(
      formatStatus(rows),
      [
        'SERVICE  INSTANCE       READY  CONNECTED  CURRENT  REVISIONS                                   LAST ERROR',
        'billing  b-1            NO     yes        yes      -                                           -',
        'orders   orders-7c9f-1  yes    yes        yes      keys.issuer.idp 2/2, policy.orders 4/4      -',
        'orders   orders-7c9f-2  yes    NO         yes      keys.issuer.idp 2/2, policy.orders 3/4 LAG  document_stale policy.orders',
        '',
        '3 sidecars answered (--expect N to check that none is missing)',
        '1/3 sidecars converged',
      ].join('\n'),
    );
    assert.equal(exitCodeFor(rows), 1);
  });

  it('names a rolled-back key (newest value older than the history holds) and exits 1 for it alone', () => {
    const bucket = new Map([...LATEST, ['policy.orders', { highest: 4, newest: 2 }]]);
    const rows = statusRows([report()], bucket);
    assert.deepEqual(
      rows[0].keys.find((k) => k.key === 'policy.orders'),
      { key: 'policy.orders', applied: 4, latest: 4, lagging: false, rollback: true },
    );
    assert.equal(rows[0].converged, true, 'the sidecar itself is fine');
    assert.match(formatStatus(rows), /policy\.orders 4\/4 ROLLBACK/);
    assert.match(formatStatus(rows), /\nROLLBACK policy\.orders: the bucket's newest value is an older revision than revision 4 in its history/);
    assert.equal(exitCodeFor(rows), 1);
    // A newest value that does not read at all (unsigned, another signer) is flagged too.
    assert.equal(statusRows([report()], new Map([['policy.orders', { highest: 4, newest: null }]]))[0].keys[1].rollback, true);
  });

  it('is not converged while a sidecar cannot confirm a key is current', () => {
    const rows = statusRows([report({ unconfirmed: ['revocations'] })], LATEST);
    assert.deepEqual(rows[0].unconfirmed, ['revocations']);
    assert.equal(rows[0].converged, false);
    assert.match(formatStatus(rows), /NO \(revocations\)/);
    assert.equal(exitCodeFor(rows), 1);
    assert.equal(parseStatusReport(JSON.stringify({ ...report(), unconfirmed: [1] })), null);
  });

  it('exits 0 when all converged, 2 when none answered', () => {
    assert.equal(exitCodeFor(statusRows([report()], LATEST)), 0);
    assert.equal(exitCodeFor([]), 2);
  });
});

describe('--expect: how many sidecars should answer', () => {
  const three = statusRows(
    ['orders-1', 'orders-2', 'orders-3'].map((instance) => report({ instance })),
    LATEST,
  );
  const footer = (text: string) => text.split('\n').slice(-2);

  it('parses a whole number of at least 1 and refuses anything else', () => {
    assert.equal(parseExpect(undefined), undefined);
    assert.equal(parseExpect('1'), 1);
    assert.equal(parseExpect('12'), 12);
    for (const bad of ['0', '-1', '1.5', '3x', '', ' 3', '1e3', '99999999999999999999'])
      assert.throws(
        () => parseExpect(bad),
        (e: unknown) => e instanceof UsageError && e.message === `--expect: "${bad}" must be a whole number of at least 1 (how many sidecars should answer)`,
      );
  });

  it('says "N of N expected sidecars answered" and exits 0 when all answered and converged', () => {
    assert.deepEqual(footer(formatStatus(three, 3)), ['3 of 3 expected sidecars answered', '3/3 sidecars converged']);
    assert.equal(exitCodeFor(three, 3), 0);
    assert.deepEqual(footer(formatStatus(three.slice(0, 1), 1)), ['1 of 1 expected sidecar answered', '1/1 sidecar converged']);
  });

  it('counts the missing ones it cannot name, and exits 1', () => {
    const [line] = footer(formatStatus(three.slice(0, 2), 3));
    assert.equal(
      line,
      '2 of 3 expected sidecars answered: 1 missing (down, cut off from NATS or slower than --wait: one that does not answer cannot be named)',
    );
    assert.equal(exitCodeFor(three.slice(0, 2), 3), 1);
  });

  it('flags more sidecars than expected (a stale pod still answering), and exits 1', () => {
    const [line] = footer(formatStatus(three, 2));
    assert.equal(line, '3 sidecars answered, 2 expected: 1 more than expected (a pod of an old deployment still running, or --expect is wrong?)');
    assert.equal(exitCodeFor(three, 2), 1);
  });

  it('keeps the other reasons for exit 1 when the count is right', () => {
    const lagging = statusRows([report({ revisions: { 'policy.orders': 3, 'keys.issuer.idp': 2 } })], LATEST);
    assert.equal(exitCodeFor(lagging, 1), 1);
    assert.equal(exitCodeFor([], 3), 2, 'none answered is still exit 2');
  });

  it('puts the counts into --json, with the rows under sidecars', () => {
    assert.deepEqual(
      { ...summarize(three.slice(0, 2), 3), sidecars: 'rows' },
      { expected: 3, answered: 2, missing: 1, extra: 0, converged: 2, sidecars: 'rows' },
    );
    assert.deepEqual({ ...summarize(three, 2), sidecars: 'rows' }, { expected: 2, answered: 3, missing: 0, extra: 1, converged: 3, sidecars: 'rows' });
    assert.deepEqual({ ...summarize(three), sidecars: 'rows' }, { expected: null, answered: 3, missing: null, extra: null, converged: 3, sidecars: 'rows' });
    assert.equal(summarize(three, 3).sidecars, three);
  });
});
