import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/cli/command.js';
import command from '../../src/cli/commands/policy-replay.js';
import type { DecisionRecord } from '../../src/grpc/index.js';
import type { DivergencePair } from '../../src/policy/index.js';
import { DocumentError } from '../../src/shared/index.js';
import { envoyRequest, envoyRequestJson, type RequestShape } from '../../testkit/envoy-client.js';
import { EXAMPLES, FIXTURES } from '../../testkit/paths.js';
import { CALLER_CLAIMS, MESH_ISSUER, MESH_PRIVATE_JWK, mint } from '../../testkit/tokens.js';

/*
 * `authzctl policy replay` in process, on real components: the example policy as the current
 * one, a changed copy as the new one (test/fixtures/policies/orders-next.yaml: own-order-history
 * removed, public-catalog and beta-orders added), and a corpus of recorded Checks built on
 * Envoy's own protos, with tokens of the example issuers that expired an hour ago.
 */

const CURRENT = `${EXAMPLES}/policy.yaml`;
const NEXT = `${FIXTURES}/policies/orders-next.yaml`;
const CHECKOUT = 'spiffe://cluster.local/ns/shop/sa/checkout';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function replay(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command.run(args, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Runs a replay that must fail: what it throws (the dispatcher prints it on one line, exit 2), and that it printed nothing. */
async function refusal(...args: string[]): Promise<Error> {
  const out: string[] = [];
  const write = (text: string) => out.push(text);
  const error = await command.run(args, { out: write, err: write }).then(
    () => assert.fail('expected the replay to fail'),
    (caught: unknown) => caught as Error,
  );
  assert.deepEqual(out, []);
  return error;
}

function decisionRecord(fields: Partial<DecisionRecord>): string {
  const record: DecisionRecord = {
    decision_id: '01J0000000000000000000000',
    request_id: 'r',
    service: 'orders',
    at: '2026-12-01T10:00:00.000Z',
    decision: 'allow',
    reason: 'allowed_by_rule',
    rule: null,
    policy_revision: '3',
    method: 'GET',
    host: 'orders.example.test',
    path: '/',
    subject: null,
    issuer: null,
    principal: null,
    ...fields,
  };
  return JSON.stringify(record);
}

/** One line a shape, alternating the proto3 JSON names and the proto's own. */
function checkLines(shapes: readonly RequestShape[]): string[] {
  return shapes.map((shape, i) => envoyRequestJson(envoyRequest(shape), i % 2 === 0 ? 'json' : 'proto'));
}

/** `allow own-order-history → deny default_deny ×3`: a pair in one line. */
function describePair(p: DivergencePair): string {
  return `${p.enforced} ${p.enforcedReason} ${p.enforcedRule ?? '-'} → ${p.shadow} ${p.shadowReason} ${p.shadowRule ?? '-'} ×${p.count}`;
}

describe('authzctl policy replay', () => {
  let dir: string;
  let corpus: string;
  const file = (name: string, lines: readonly string[]) => {
    const path = join(dir, name);
    writeFileSync(path, lines.join('\n') + '\n');
    return path;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-replay-'));
    const expired = { ttlSeconds: -3600 };
    const alice = await mint({ ...CALLER_CLAIMS }, { ...expired, subject: 'alice' });
    const bob = await mint({ ...CALLER_CLAIMS }, { ...expired, subject: 'bob' });
    const stranger = await mint({ ...CALLER_CLAIMS }, { ...expired, issuer: 'https://other.example.test' });
    const checkout = await mint({}, { ...expired, jwk: MESH_PRIVATE_JWK, issuer: MESH_ISSUER, subject: CHECKOUT });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    corpus = file('checks.jsonl', [
      ...checkLines([
        { id: 'h1', path: '/healthz' },
        { id: 'h2', path: '/healthz' },
        { id: 'o1', path: '/api/orders/7', headers: { ...bearer(alice), 'x-tenant-id': 'acme' } },
        { id: 'c1', path: '/api/customers/alice/orders/1', headers: bearer(alice) },
        { id: 'c2', path: '/api/customers/alice/orders/2/items', headers: bearer(alice) },
        { id: 'c3', path: '/api/customers/bob/orders/3', headers: bearer(bob) },
        { id: 'p1', path: '/api/catalog/shoes' },
        { id: 'p2', path: '/api/catalog/hats' },
        { id: 'b1', path: '/api/beta/orders', headers: bearer(alice) },
        { id: 's1', method: 'POST', path: '/internal/sync', headers: { 'x-service-token': checkout } },
        { id: 'x1', path: '/api/orders/7', headers: bearer('not.a.jwt') },
        { id: 'x2', path: '/api/orders/7', headers: bearer(stranger) },
        { id: 'x3', path: '/api/../../etc/passwd' },
      ]),
      '',
      decisionRecord({
        request_id: 'd1',
        path: '/api/customers/carol/orders/9',
        subject: 'carol',
        issuer: 'https://idp.example.test',
        rule: 'own-order-history',
      }),
      decisionRecord({ request_id: 'd2', path: '/healthz', rule: 'public-health' }),
      decisionRecord({ request_id: 'd3', decision: 'deny', reason: 'token_expired', path: '/api/orders' }),
    ]);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('counts every pair of decisions, with the divergent ones first and sampled', async () => {
    const run = await replay('--policy', NEXT, '--current', CURRENT, '--requests', corpus, '--json');
    assert.equal(run.code, 1, run.err);
    const report = JSON.parse(run.out);
    assert.deepEqual(Object.keys(report), ['evaluated', 'divergent', 'errors', 'conditionErrors', 'overflow', 'pairs', 'notEvaluated', 'fromDecisionLog']);
    assert.deepEqual(
      { ...report, pairs: undefined },
      {
        evaluated: 12,
        divergent: 5,
        errors: 0,
        // beta-orders reads a header b1 does not send: the rule fails closed, counted.
        conditionErrors: 1,
        overflow: 0,
        pairs: undefined,
        notEvaluated: {
          total: 4,
          credentialsRefused: { token_expired: 1, token_issuer_invalid: 1, token_malformed: 1 },
          requestRefused: { path_traversal: 1 },
          notDecided: {},
        },
        fromDecisionLog: 2,
      },
    );
    const pairs = report.pairs as DivergencePair[];
    assert.deepEqual(pairs.map(describePair), [
      'allow allowed_by_rule own-order-history → deny default_deny - ×3',
      'deny default_deny - → allow allowed_by_rule public-catalog ×2',
      'allow allowed_by_rule public-health → allow allowed_by_rule public-health ×3',
      'allow allowed_by_rule checkout-service → allow allowed_by_rule checkout-service ×1',
      'allow allowed_by_rule read-orders → allow allowed_by_rule read-orders ×1',
      'deny default_deny - → deny default_deny - ×1',
      // The decision-log record has no scopes: own-order-history is a near miss now, and was an allow.
      'deny missing_scope own-order-history → deny default_deny - ×1',
    ]);
    assert.deepEqual(
      pairs[0].samples.map(({ requestId, method, path, subject }) => ({ requestId, method, path, subject })),
      [
        { requestId: 'c1', method: 'GET', path: '/api/customers/alice/orders/1', subject: 'alice' },
        { requestId: 'c2', method: 'GET', path: '/api/customers/alice/orders/2/items', subject: 'alice' },
        { requestId: 'c3', method: 'GET', path: '/api/customers/bob/orders/3', subject: 'bob' },
      ],
    );
    assert.deepEqual(
      pairs[1].samples.map((s) => [s.requestId, s.subject]),
      [
        ['p1', null],
        ['p2', null],
      ],
    );
    for (const s of pairs[0].samples) assert.match(s.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(
      pairs.slice(2).map((p) => p.samples),
      [[], [], [], [], []],
    );
    assert.match(
      run.err,
      /^authzctl: warning: 2 Checks replayed from decision-log records, which hold only method, host, path, subject, issuer and principal: /,
    );
  });

  it('prints the summary, what was not evaluated and the top rows; never a token', async () => {
    const run = await replay('--policy', NEXT, '--current', CURRENT, '--requests', corpus, '--top', '1');
    assert.equal(run.code, 1);
    const lines = run.out.split('\n');
    assert.deepEqual(lines.slice(0, 3), [
      '12 Checks: 5 decided differently (41.7 %), 0 shadow evaluation errors, 1 condition errors',
      '4 Checks not evaluated: credentials refused 3 (token_expired 1, token_issuer_invalid 1, token_malformed 1), request refused 1 (path_traversal 1)',
      '',
    ]);
    assert.match(lines[3], /^CURRENT +NEW +CHECKS +SAMPLE$/);
    assert.match(lines[4], /^allow own-order-history +deny default_deny +3 +GET \/api\/customers\/alice\/orders\/1 \(alice, request c1\)$/);
    assert.equal(lines[5], '… and 1 more divergent pairs (--top N, or --json for all)');
    assert.equal(lines.length, 6);
    assert.doesNotMatch(run.out + run.err, /eyJ/);
  });

  it('finds no divergence between a policy and itself: exit 0', async () => {
    const run = await replay('--policy', CURRENT, '--current', CURRENT, '--requests', corpus);
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out.split('\n')[0], '12 Checks: 0 decided differently (0.0 %), 0 shadow evaluation errors, 0 condition errors');
    assert.equal(run.out.split('\n').length, 2);
  });

  it('reads decision-log records alone, warning what they cannot match', async () => {
    const records = file('decisions.jsonl', [
      decisionRecord({ request_id: 'd1', path: '/api/catalog/socks' }),
      decisionRecord({ request_id: 'd2', path: '/internal/sync', method: 'POST', principal: CHECKOUT }),
      decisionRecord({ request_id: 'd3', decision: 'deny', reason: 'not_ready' }),
    ]);
    const run = await replay('--policy', NEXT, '--current', CURRENT, '--requests', records, '--json');
    assert.equal(run.code, 1);
    const report = JSON.parse(run.out);
    assert.deepEqual([report.evaluated, report.divergent, report.fromDecisionLog], [2, 1, 2]);
    assert.deepEqual(report.notEvaluated, { total: 1, credentialsRefused: {}, requestRefused: {}, notDecided: { not_ready: 1 } });
    assert.deepEqual((report.pairs as DivergencePair[]).map(describePair), [
      'deny default_deny - → allow allowed_by_rule public-catalog ×1',
      'allow allowed_by_rule checkout-service → allow allowed_by_rule checkout-service ×1',
    ]);
    assert.equal(run.err.split('\n').length, 1);
    assert.match(run.err, /warning: 2 Checks replayed from decision-log records/);
  });

  it('refuses a bad line as FILE:LINE, printing nothing', async () => {
    const [good] = checkLines([{ path: '/healthz' }]);
    const cases: Array<[string[], RegExp]> = [
      [[good, '', '{"attributes":'], /:3: not valid JSON$/],
      [[good, '[1]'], /:2: not a JSON object$/],
      [['{"foo":1}'], /:1: neither a CheckRequest \(no "attributes"\) nor a decision-log record \(no "decision_id"\)$/],
      [['{"attributes":{},"attributes":{}}'], /:1: has duplicate member names$/],
      [['{"attributes":{"request":{"http":{"path":7}}}}'], /:1: attributes\.request\.http\.path: must be a string$/],
      [
        [
          decisionRecord({}),
          JSON.stringify({ decision_id: 'x', request_id: 'r', reason: 'default_deny', method: 'GET', host: 'h', path: '/', issuer: null, principal: null }),
        ],
        /:2: subject: /,
      ],
    ];
    for (const [lines, message] of cases) {
      const requests = file('bad.jsonl', lines);
      const error = await refusal('--policy', NEXT, '--current', CURRENT, '--requests', requests);
      assert.ok(error instanceof UsageError || error instanceof DocumentError, String(error));
      assert.ok(error.message.startsWith(`${requests}:`), error.message);
      assert.match(error.message, message);
    }
  });

  it('refuses what cannot be replayed, on one line each', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--policy', NEXT, '--requests', corpus], /^give exactly one of --current CURRENT\.yaml, --service NAME$/],
      [['--policy', NEXT, '--current', CURRENT, '--service', 'orders', '--requests', corpus], /^give exactly one of/],
      [['--current', CURRENT, '--requests', corpus], /^--policy NEW\.yaml is required$/],
      [['--policy', NEXT, '--current', CURRENT], /^--requests FILE is required/],
      [['--policy', NEXT, '--current', CURRENT, '--requests', corpus, '--top', '0'], /^--top: "0" must be a whole number of 1 or more$/],
      [['--policy', NEXT, '--current', CURRENT, '--requests', join(dir, 'missing.jsonl')], /missing\.jsonl: cannot read: no such file$/],
      [['--policy', NEXT, '--current', `${FIXTURES}/policies/duplicate-rule.yaml`, '--requests', corpus], /duplicate-rule\.yaml/],
      [['--policy', NEXT, '--service', 'billing', '--requests', corpus], /^--service is "billing" but the sidecar config serves "orders"/],
    ];
    for (const [args, message] of cases) assert.match((await refusal(...args)).message, message, args.join(' '));
  });
});
