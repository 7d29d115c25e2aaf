/** `authzctl policy replay`: recorded Checks decided again under the current and a new policy, offline. */
import { fileURLToPath } from 'node:url';
import { loadConfig, protectedServices, type Config } from '../../config/index.js';
import { kvKeyFor, policyTarget } from '../../control/index.js';
import { compilePolicy, loadPolicyFile, validatePolicyDocument, type CompiledPolicy } from '../../policy/index.js';
import { buildRequestView } from '../../request/index.js';
import { DocumentError } from '../../shared/index.js';
import { createCredentialDecoder } from '../../tokens/index.js';
import { EXIT, UsageError, parseOptions, type Command, type Output } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, optionalSigners, withBucket } from '../control-options.js';
import { divergenceJson, divergenceLines } from '../divergence.js';
import { readRecordedChecks } from '../recorded-checks.js';
import { Replay, type NotEvaluated } from '../replay.js';
import { asUsage, currentDocument } from './publish.js';

/** The config `npm start` runs the sidecar on; from dist/src/cli/commands/, the repository root is four levels up. */
const EXAMPLE_CONFIG = fileURLToPath(new URL('../../../../deploy/examples/config.yaml', import.meta.url));

const help = `Usage: authzctl policy replay --policy NEW.yaml --requests FILE
         (--current CURRENT.yaml | --service NAME [control-plane options])
         [--config SIDECAR_CONFIG.yaml] [--top N] [--json]

Decides recorded Checks again, offline, under the current policy and a new one, and
prints where the two disagree before anything is published: a summary line, then the
pairs of decisions (CURRENT, NEW) that differ, most frequent first, each with a sample
request. It is the table a sidecar keeps for a shadow policy, built from a file.

Every Check goes through the sidecar's own request normalisation, token sources and
policy evaluation. Tokens are decoded but NOT verified: signatures, the time claims
(exp, nbf, iat) and revocations are not checked, since recorded tokens have expired
by now. Every other check of the sidecar applies (size, structure, alg and typ, iss,
aud, claim types, a service token's SPIFFE subject); a Check whose request or
credentials the sidecar would refuse before any policy is counted as not evaluated,
never in the table.

Options:
  --policy FILE     the new policy (YAML or JSON)
  --requests FILE   the recorded Checks, JSON lines (format below); "-" reads stdin
  --current FILE    the current policy, from a file ...
  --service NAME    ... or the one enforced for NAME: policy.<NAME> in the control-plane
                    bucket, verified when --signers are given
  --config FILE     the sidecar config whose service, issuers, token sources, service
                    tokens and request limits apply (default: deploy/examples/config.yaml,
                    the config npm start runs); both policies must be for its service
  --top N           rows of the table (default 10)
  --json            print the counts and every pair as JSON
  -h, --help        show this help

Requests file: one JSON object per line (blank lines are skipped), either
  - an Envoy CheckRequest in the proto3 JSON mapping: {"attributes": {...}}, fields
    named lowerCamelCase or as in the proto. The fields the sidecar reads count
    (source address and principal, request.http id, method, headers, header_map,
    path, host, context_extensions); the others are ignored, as the sidecar ignores
    them. Or
  - a decision-log record, as the sidecar publishes it on <prefix>.decisions.<service>
    (it has "decision_id"). A record holds only method, host, path, subject, issuer
    and principal, so rules needing scopes, roles, headers or claims cannot match it:
    a warning says how many Checks were replayed that way. Records of Checks refused
    before any policy are counted as not evaluated.

Exit status: 0 no Check decided differently, 1 some did, 2 a usage error or invalid
input (a bad line is reported as FILE:LINE: reason, and nothing else is printed).

Example:
  authzctl policy replay --policy new-policy.yaml --current deploy/examples/policy.yaml \\
    --requests checks.jsonl

${CONTROL_HELP}`;

const OPTIONS = {
  ...CONTROL_OPTIONS,
  policy: { type: 'string' },
  requests: { type: 'string' },
  current: { type: 'string' },
  service: { type: 'string' },
  config: { type: 'string' },
  top: { type: 'string', default: '10' },
  json: { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>['values'];

const command: Command = {
  name: 'policy replay',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.policy === undefined) throw new UsageError('--policy NEW.yaml is required');
    if (values.requests === undefined) throw new UsageError('--requests FILE is required (JSON lines, "-" for stdin)');
    if ((values.current === undefined) === (values.service === undefined)) throw new UsageError('give exactly one of --current CURRENT.yaml, --service NAME');
    const top = parseTop(values.top);

    const config = sidecarConfig(values.config);
    // The service both policies must be for: --service, or the config's only one (a gateway's policies name their own).
    const services = protectedServices(config).map((s) => s.name);
    const served = services.map((s) => `"${s}"`).join(', ');
    if (values.service !== undefined && !services.includes(values.service))
      throw new UsageError(`--service is "${values.service}" but the sidecar config serves ${served} (give its --config)`);
    const service = values.service ?? (services.length === 1 ? services[0] : undefined);
    let conditionErrors = 0;
    const next = loadPolicyFile(values.policy, undefined, { service, onConditionError: () => conditionErrors++ });
    if (!services.includes(next.service)) throw new UsageError(`${values.policy}: is for service "${next.service}" but the sidecar config serves ${served}`);
    const current = values.current !== undefined ? loadPolicyFile(values.current, undefined, { service: next.service }) : await enforcedPolicy(values);

    const replay = new Replay({
      current,
      next,
      buildView: (request) => buildRequestView(request, config.request),
      credentials: createCredentialDecoder({ issuers: config.issuers, serviceTokens: config.serviceTokens, service: config.service }),
      issuers: config.issuers,
    });
    for await (const check of readRecordedChecks(values.requests)) {
      if (check.kind === 'check-request') replay.checkRequest(check.request);
      else replay.decisionRecord(check.record);
    }

    const totals = replay.totals(conditionErrors);
    const { notEvaluated, fromDecisionLog } = replay;
    if (values.json) {
      output.out(JSON.stringify({ ...divergenceJson(totals), notEvaluated, fromDecisionLog }, null, 2));
    } else {
      const [summary, ...table] = divergenceLines(totals, { top, names: ['CURRENT', 'NEW'] });
      output.out([summary, ...(notEvaluated.total > 0 ? [notEvaluatedLine(notEvaluated)] : []), ...table].join('\n'));
    }
    warnDecisionLog(output, fromDecisionLog);
    return totals.divergent === 0 ? EXIT.OK : EXIT.DENIED_OR_FAILED;
  },
};

export default command;

function parseTop(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--top: "${text}" must be a whole number of 1 or more`);
  return Number(text);
}

/** The --config file, else the example config; the example missing (an installed image) is a usage error saying what to give. */
function sidecarConfig(file: string | undefined): Config {
  try {
    return loadConfig(file ?? EXAMPLE_CONFIG);
  } catch (error) {
    if (file === undefined && error instanceof DocumentError && error.field === '')
      throw new UsageError(`no --config given and the example config cannot be read (${error.message}): give --config SIDECAR_CONFIG.yaml`);
    throw error;
  }
}

/** The policy the control plane enforces for --service, compiled as a sidecar following the bucket compiles it. */
async function enforcedPolicy(values: Values): Promise<CompiledPolicy> {
  const service = values.service!;
  const target = asUsage(() => policyTarget(service), '--service');
  const settings = controlSettings(values);
  const signers = await optionalSigners(settings);
  const document = await withBucket(settings, false, (bucket) => currentDocument(bucket, 'policy', target, signers));
  const key = kvKeyFor('policy', target);
  if (document === null) throw new UsageError(`${key}: no policy published for "${service}"`);
  const policy = validatePolicyDocument(document.body, key);
  if (policy.metadata.service !== service) throw new DocumentError(key, 'metadata.service', `is "${policy.metadata.service}" but --service is "${service}"`);
  return compilePolicy(policy, { revision: String(document.revision), file: key });
}

const count = (n: number) => n.toLocaleString('en');

const KINDS: ReadonlyArray<readonly [keyof Omit<NotEvaluated, 'total'>, string]> = [
  ['credentialsRefused', 'credentials refused'],
  ['requestRefused', 'request refused'],
  ['notDecided', 'no policy decision'],
];

/** `3 Checks not evaluated: credentials refused 2 (token_malformed 2), request refused 1 (path_traversal 1)`. */
export function notEvaluatedLine(notEvaluated: NotEvaluated): string {
  const parts = KINDS.flatMap(([kind, label]) => {
    const reasons = Object.entries(notEvaluated[kind]);
    if (reasons.length === 0) return [];
    const total = reasons.reduce((sum, [, n]) => sum + n, 0);
    return [`${label} ${count(total)} (${reasons.map(([reason, n]) => `${reason} ${count(n)}`).join(', ')})`];
  });
  return `${count(notEvaluated.total)} Checks not evaluated: ${parts.join(', ')}`;
}

function warnDecisionLog(output: Output, replayed: number): void {
  if (replayed === 0) return;
  output.err(
    `authzctl: warning: ${count(replayed)} Checks replayed from decision-log records, which hold only method, host, path, subject, issuer ` +
      'and principal: rules needing scopes, roles, headers or claims cannot match them',
  );
}
