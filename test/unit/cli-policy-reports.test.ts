import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DocumentError } from '../../src/shared/index.js';
import { fleetExitCode, fleetLines, fleetReports, parsePolicyReport } from '../../src/cli/policy-reports.js';
import { formatUnused, policyWarnings, unusedOf } from '../../src/cli/commands/policy-unused.js';
import { formatShadowReport, shadowWarnings } from '../../src/cli/commands/shadow-report.js';
import { sumUsage } from '../../src/policy/index.js';
import { policyReport, shadowReport } from '../../testkit/policy-reports.js';

const SUBJECT = 'authz.report.orders';
const json = (value: unknown) => JSON.stringify(value);

describe('parsePolicyReport', () => {
  it('accepts a report, drops unknown fields and escapes control characters', () => {
    const report = policyReport('orders-1', { shadow: shadowReport('3', []) });
    assert.deepEqual(parsePolicyReport(json(report), 'orders', 'reply 1'), report);
    assert.deepEqual(parsePolicyReport(new TextEncoder().encode(json({ ...report, future: 1 })), 'orders', 'reply 1'), report);
    assert.equal(parsePolicyReport(json({ ...report, instance: 'a\u001b[2Jb' }), 'orders', 'reply 1').instance, 'a\\u001b[2Jb');
  });

  it('refuses what is not a report of the service, naming the field', () => {
    const report = policyReport('orders-1');
    const cases: Array<[string, RegExp]> = [
      ['', /^reply 2: \(document\): is not JSON$/],
      ['[]', /^reply 2: \(document\): must be a policy report/],
      [json({ ...report, service: 'billing' }), /^reply 2: service: is "billing", not "orders"$/],
      [json({ ...report, instance: '' }), /^reply 2: instance: must not be empty$/],
      [json({ ...report, checks: -1 }), /^reply 2: checks: /],
      [json({ ...report, checks: 1.5 }), /^reply 2: checks: /],
      [json({ ...report, rules: [{ name: 'r', action: 'LOG', hits: 1 }] }), /^reply 2: rules\[0\]\.action: must be "ALLOW" or "DENY"$/],
      [json({ ...report, shadow: { ...shadowReport('1', []), pairs: [{}] } }), /^reply 2: shadow\.pairs\[0\]\.enforced: required$/],
    ];
    for (const [body, message] of cases)
      assert.throws(
        () => parsePolicyReport(body, 'orders', 'reply 2'),
        (e: unknown) => e instanceof DocumentError && message.test(e.message),
        body,
      );
  });
});

describe('fleetReports', () => {
  it('sorts the reports by instance and counts a malformed reply as answered', () => {
    const fleet = fleetReports('orders', SUBJECT, [json(policyReport('orders-2')), '{"instance":"orders-9"}', json(policyReport('orders-1'))], 3);
    assert.deepEqual(
      fleet.reports.map((r) => r.instance),
      ['orders-1', 'orders-2'],
    );
    assert.deepEqual(fleet.malformed, [{ reply: 2, instance: 'orders-9', problem: 'service: required' }]);
    assert.deepEqual([fleet.answered, fleet.missing, fleet.extra], [3, 0, 0]);
    assert.deepEqual(fleetLines(fleet), [
      '3 of 3 expected sidecars reported',
      '1 of those replies is not a usable report, left out of what follows:',
      '  reply 2 (instance orders-9): service: required',
    ]);
    assert.equal(fleetExitCode(fleet, true), 1);
    assert.equal(fleetExitCode(fleetReports('orders', SUBJECT, [json(policyReport('orders-1'))]), true), 0);
    assert.equal(fleetExitCode(fleetReports('orders', SUBJECT, [json(policyReport('orders-1'))], 2), true), 1);
    assert.equal(fleetExitCode(fleetReports('orders', SUBJECT, [json(policyReport('orders-1'))]), false), 1);
  });
});

describe('shadow report', () => {
  it('warns when no sidecar, or only some, hold a shadow', () => {
    assert.deepEqual(shadowWarnings([]), []);
    assert.match(shadowWarnings([policyReport('a'), policyReport('b')]).join('\n'), /^no sidecar holds a shadow policy/);
    assert.deepEqual(shadowWarnings([policyReport('a', { shadow: shadowReport('2', []) }), policyReport('b')]), [
      '1 of 2 sidecars hold no shadow, and their Checks are not in the sums: b',
    ]);
  });

  it('prints the zero summary when there is nothing to sum, and exits 1', () => {
    const report = formatShadowReport(fleetReports('orders', SUBJECT, [json(policyReport('a'))]), 10);
    assert.equal(report.exitCode, 1);
    assert.match(report.text, /\na\s+none\s+-\s+-\s+-\n/);
    assert.match(report.text, /\n0 Checks: 0 decided differently \(0 %\), 0 shadow evaluation errors, 0 condition errors$/);
  });
});

describe('policy unused', () => {
  it('lists ALLOW rules, grants and scopes with no hits; a DENY rule is never listed', () => {
    const used = policyReport('a', {
      rules: [
        { name: 'block', action: 'DENY', hits: 0 },
        { name: 'read', action: 'ALLOW', hits: 2 },
        { name: 'write', action: 'ALLOW', hits: 0 },
      ],
      grants: [{ role: 'admin', permission: 'orders:*', hits: 0 }],
      scopes: [{ scope: 'orders:read', hits: 2 }],
    });
    assert.deepEqual(unusedOf(sumUsage([used])), { rules: ['write'], grants: [{ role: 'admin', permission: 'orders:*' }], scopes: [] });
  });

  it('warns when the sidecars hold different revisions or none', () => {
    assert.deepEqual(policyWarnings([policyReport('a'), policyReport('b')]), []);
    assert.deepEqual(policyWarnings([policyReport('a'), policyReport('b', { policy: null })]), [
      'the sidecars do not all hold the same policy revision, and the lists mix them: orders revision 7 (a), none (b)',
    ]);
    assert.deepEqual(policyWarnings([policyReport('a', { policy: null })]), ['no sidecar holds a policy yet: nothing was counted']);
    const empty = formatUnused(fleetReports('orders', SUBJECT, [json(policyReport('a', { rules: [], grants: [], scopes: [] }))]));
    assert.match(empty.text, /\nALLOW rules: none in the policy\nrole grants: none in the policy\nrequired scopes: none in the policy$/);
    assert.equal(empty.exitCode, 0);
  });
});
