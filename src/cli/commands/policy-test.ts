/** `authzctl policy test`: evaluate example requests against a policy file offline. */
import { loadPolicyFile } from '../../policy/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { loadCasesFile } from '../cases.js';
import { formatResults, runCases } from '../run-cases.js';

const help = `Usage: authzctl policy test POLICY_FILE --cases CASES_FILE [--json]

Evaluates example requests against a policy offline, through the same request
normalisation and evaluation the sidecar runs, and prints one PASS/FAIL line per
case and a summary. Tokens in the cases are taken as verified (no signatures).

Options:
  --cases FILE   the cases file (YAML or JSON, format below)
  --json         print the results as JSON
  -h, --help     show this help

Exit status: 0 all cases pass, 1 some case fails, 2 a file is invalid (the error
names the file, the field and the reason).

Cases file (every object strict; unknown fields are errors):
  cases:
    - name: customer reads orders          # required, unique
      request:
        method: GET                        # default GET
        path: /api/orders/7?x=1            # required, as on the request line
        host: orders.example.test          # default localhost
        headers: { x-tenant-id: acme }     # optional
        context: { k: v }                  # optional context_extensions
      auth:                                # omit for an anonymous caller
        issuer: https://idp.example.test   # user token iss (needed with subject/audience/claims)
        subject: alice
        audience: orders                   # optional, string or list
        claims: { tenant: acme, roles: [customer], scope: "orders:read" }
        principal: spiffe://cluster.local/ns/shop/sa/checkout   # mTLS peer, optional
        serviceToken: { subject: spiffe://cluster.local/ns/shop/sa/checkout, claims: {} }
      expect:
        decision: allow                    # allow | deny (required)
        rule: read-orders                  # optional; null = decided by defaultAction
        status: 403                        # deny only: 400 | 401 | 403 | 431
        reason: missing_scope              # optional, e.g. default_deny, denied_by_rule,
                                           # missing_scope, missing_permission,
                                           # credentials_missing, path_traversal

A deny for a caller with no user token and no principal is 401 credentials_missing,
any other deny 403; a path the sidecar cannot normalise is 400 with its reason.`;

const OPTIONS = {
  cases: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const command: Command = {
  name: 'policy test',
  help,
  async run(argv, output) {
    const { values, positionals } = parseOptions(argv, OPTIONS, true);
    if (positionals.length !== 1) throw new UsageError(`expected one POLICY_FILE, got ${positionals.length}`);
    if (values.cases === undefined) throw new UsageError('--cases CASES_FILE is required');
    const [policyFile] = positionals;

    const conditionErrors: string[] = [];
    const policy = loadPolicyFile(policyFile, undefined, { onConditionError: (rule, error) => conditionErrors.push(`${rule}: ${error.message}`) });
    const { cases } = loadCasesFile(values.cases);
    const results = runCases(policy, cases, conditionErrors);
    const failed = results.filter((r) => !r.pass).length;

    if (values.json) {
      const report = { policy: policy.name, revision: policy.revision, passed: results.length - failed, failed, cases: results };
      output.out(JSON.stringify(report, null, 2));
    } else {
      output.out(formatResults(results).join('\n'));
    }
    return failed === 0 ? EXIT.OK : EXIT.DENIED_OR_FAILED;
  },
};

export default command;
