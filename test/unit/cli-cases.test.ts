import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCasesFile, parseCasesText } from '../../src/cli/cases.js';
import { authContextOf, evaluateCase, formatResults, runCases } from '../../src/cli/run-cases.js';
import { DocumentError } from '../../src/shared/index.js';
import { loadPolicyFile } from '../../src/policy/index.js';
import { EXAMPLES, FIXTURES } from '../../testkit/paths.js';

function rejects(text: string, field: string, reason: RegExp, at?: [number, number]): void {
  assert.throws(
    () => parseCasesText(text, 'cases.yaml'),
    (error: unknown) => {
      assert.ok(error instanceof DocumentError, String(error));
      assert.equal(error.file, 'cases.yaml');
      assert.equal(error.field, field);
      assert.match(error.reason, reason);
      if (at !== undefined) assert.deepEqual([error.line, error.column], at);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    },
  );
}

const one = (body: string) => `cases:\n  - name: a\n${body}`;

describe('cases file validation', () => {
  it('accepts the documented shape and applies defaults', () => {
    const { cases } = parseCasesText(one('    request: { path: /x, headers: { x-n: 3 } }\n    expect: { decision: deny, status: 401, rule: null }\n'), 'f');
    assert.equal(cases[0].request.method, 'GET');
    assert.deepEqual(cases[0].request.headers, { 'x-n': '3' });
    assert.equal(cases[0].expect.rule, null);
  });

  it('names the field and the reason', () => {
    rejects(one('    request: { path: /x }\n    expect: { decision: allow, rules: r }\n'), 'cases[0].expect.rules', /^unknown field$/, [4, 32]);
    rejects(one('    request: { path: /x }\n'), 'cases[0].expect', /^required$/);
    rejects(one('    request: { method: GET }\n    expect: { decision: allow }\n'), 'cases[0].request.path', /^required$/);
    rejects(one('    request: { path: /x }\n    expect: { decision: maybe }\n'), 'cases[0].expect.decision', /"allow" or "deny"/);
    rejects(one('    request: { path: /x }\n    expect: { decision: allow, status: 403 }\n'), 'cases[0].expect.status', /only applies to decision: deny/);
    rejects(one('    request: { path: /x }\n    expect: { decision: deny, status: 404 }\n'), 'cases[0].expect.status', /must be one of 400, 401, 403, 431/);
    rejects(one('    request: { path: /x }\n    auth: { subject: alice }\n    expect: { decision: deny }\n'), 'cases[0].auth.issuer', /required when subject/);
    rejects(
      one('    request: { path: /x }\n    expect: { decision: deny, reason: default_denied }\n'),
      'cases[0].expect.reason',
      /^"default_denied" is not a reason a case can have \(did you mean "default_deny"\? one of /,
    );
    // Token errors cannot come out of a case (its credentials are given as verified); nothing is near.
    rejects(
      one('    request: { path: /x }\n    expect: { decision: deny, reason: token_expired }\n'),
      'cases[0].expect.reason',
      /^"token_expired" is not a reason a case can have \(one of allowed_by_rule, /,
    );
    rejects(
      one('    request: { path: /x }\n    auth: { serviceToken: { subject: checkout } }\n    expect: { decision: deny }\n'),
      'cases[0].auth.serviceToken.subject',
      /SPIFFE id/,
    );
    rejects(
      one('    request: { path: /x, headers: { "bad name": v } }\n    expect: { decision: deny }\n'),
      'cases[0].request.headers.bad name',
      /is not a valid header name/,
    );
  });

  it('rejects duplicate names, empty lists, non-mappings and YAML errors', () => {
    const c = '  - name: a\n    request: { path: /x }\n    expect: { decision: deny }\n';
    rejects(`cases:\n${c}${c}`, 'cases[1].name', /duplicate case name "a"/);
    rejects('cases: []\n', 'cases', /at least one case/);
    rejects('', '', /must be a mapping with a "cases" list/);
    rejects('- 1\n', '', /must be a mapping/);
    rejects('cases: [\n', '', /Flow sequence/, [2, 1]);
    rejects('cases: []\ncases: []\n', '', /unique/, [2, 1]);
  });

  it('reports a missing file as a DocumentError', () => {
    assert.throws(
      () => loadCasesFile('/nonexistent/cases.yaml'),
      (e: unknown) => e instanceof DocumentError && e.reason === 'file not found',
    );
  });
});

describe('evaluating cases', () => {
  const policy = loadPolicyFile(`${EXAMPLES}/policy.yaml`);

  it('builds the auth context the sidecar would', () => {
    assert.deepEqual(authContextOf(undefined), { user: null, service: null, principal: null });
    const auth = authContextOf({
      issuer: 'https://idp.example.test',
      subject: 'alice',
      audience: 'orders',
      claims: { scope: 'a b', jti: 'j1' },
      principal: 'spiffe://mtls',
    });
    assert.equal(auth.user?.issuerName, 'https://idp.example.test');
    assert.equal(auth.user?.subject, 'alice');
    assert.deepEqual(auth.user?.audience, ['orders']);
    assert.deepEqual(auth.user?.scopes, ['a', 'b']);
    assert.equal(auth.user?.claims.iss, 'https://idp.example.test');
    assert.equal(auth.user?.jti, 'j1');
    assert.equal(auth.principal, 'spiffe://mtls');
    const svc = authContextOf({ principal: 'spiffe://mtls', serviceToken: { subject: 'spiffe://token' } });
    assert.equal(svc.user, null);
    assert.equal(svc.service?.issuerName, 'service');
    assert.equal(svc.principal, 'spiffe://token');
  });

  it('maps decisions to status and reason like the Check handler', () => {
    const { cases } = loadCasesFile(`${EXAMPLES}/policy.cases.yaml`);
    const byName = new Map(cases.map((c) => [c.name, c]));
    assert.deepEqual(evaluateCase(policy, byName.get('anonymous caller must log in')!), {
      decision: 'deny',
      status: 401,
      reason: 'credentials_missing',
      rule: null,
    });
    assert.deepEqual(evaluateCase(policy, byName.get('climbing above the root is a bad request')!), {
      decision: 'deny',
      status: 400,
      reason: 'path_traversal',
      rule: null,
    });
    assert.deepEqual(evaluateCase(policy, byName.get('customer reads orders')!), {
      decision: 'allow',
      status: 200,
      reason: 'allowed_by_rule',
      rule: 'read-orders',
    });
    assert.ok(runCases(policy, cases).every((r) => r.pass));
  });

  it('formats PASS/FAIL lines and a summary', () => {
    const { cases } = loadCasesFile(`${FIXTURES}/cli/orders-failing.cases.yaml`);
    const lines = formatResults(runCases(policy, cases));
    assert.deepEqual(lines, [
      'PASS health check is public',
      'FAIL wrong - anonymous reads orders: expected allow (rule read-orders), got deny 401 credentials_missing (rule none)',
      'PASS customer creates an order',
      'FAIL wrong - missing scope expected as 401: expected deny 401 missing_scope, got deny 403 missing_scope (rule create-orders)',
      '4 cases: 2 passed, 2 failed',
    ]);
  });
});
