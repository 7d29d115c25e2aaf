/** `authzctl check`: send one CheckRequest to a running sidecar and show its answer. */
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { loadAuthProto } from '../../grpc/protos.js';
import type { CheckResponse__Output } from '../../generated/envoy/service/auth/v3/CheckResponse.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { formatSummary, summarize } from '../check-response.js';
import { buildCheckRequest, DEFAULT_HOST, type EnvoyCheckRequest } from '../envoy-request.js';
import { parseDuration, parseHeader, parseKeyValue } from '../values.js';

const help = `Usage: authzctl check [options]

Sends one ext_authz CheckRequest, built the way Envoy builds it, to a sidecar and
prints its decision: "ALLOW" or "DENY 401 (token_expired)", the headers it would
set or remove, and the decision metadata (decision id, policy, revision, rule).

Options:
  --address HOST:PORT   the sidecar's gRPC address (default 127.0.0.1:9191)
  --method METHOD       HTTP method, sent as given (default GET)
  --path PATH           request path, query allowed (default /)
  --host HOST           :authority (default: a -H host header, else ${DEFAULT_HOST})
  -H, --header "n: v"   request header; repeatable
  --token JWT           end-user token, sent as "authorization: Bearer JWT"
  --service-token JWT   service token, sent as "x-service-token"
  --principal ID        mTLS peer identity (attributes.source.principal),
                        e.g. spiffe://cluster.local/ns/shop/sa/checkout
  --context k=v         context_extensions entry; repeatable
  --timeout DURATION    deadline (default 5s)
  --json                print the CheckResponse as JSON
  -h, --help            show this help

Exit status: 0 allowed, 1 denied, 2 usage error or sidecar not reachable.

Example:
  authzctl check --path /api/orders/7 -H "x-tenant-id: acme" \\
    --token "$(authzctl token mint --key deploy/examples/keys/idp-dev-1.private.jwk.json \\
      --scope orders:read --roles customer --claim tenant=acme)"`;

const OPTIONS = {
  address: { type: 'string', default: '127.0.0.1:9191' },
  method: { type: 'string', default: 'GET' },
  path: { type: 'string', default: '/' },
  host: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true, default: [] as string[] },
  token: { type: 'string' },
  'service-token': { type: 'string' },
  principal: { type: 'string' },
  context: { type: 'string', multiple: true, default: [] as string[] },
  timeout: { type: 'string', default: '5s' },
  json: { type: 'boolean', default: false },
} as const;

/** Errors that mean "no sidecar answered" rather than "the sidecar refused the call". */
const UNREACHABLE = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED]);

/** An unreachable or failing sidecar: one line, exit 2. */
export class SidecarError extends Error {
  override readonly name = 'SidecarError';
}

export function sendCheck(address: string, request: EnvoyCheckRequest, timeoutMs: number): Promise<CheckResponse__Output> {
  const Authorization = loadAuthProto().envoy.service.auth.v3.Authorization;
  let client;
  try {
    client = new Authorization(address, credentials.createInsecure());
  } catch (error) {
    throw new UsageError(`--address: "${address}" is not a valid gRPC address (${error instanceof Error ? error.message : String(error)})`);
  }
  return new Promise<CheckResponse__Output>((resolve, reject) => {
    client.Check(request, { deadline: Date.now() + timeoutMs }, (error: ServiceError | null, response?: CheckResponse__Output) => {
      client.close();
      if (error) {
        const what = UNREACHABLE.has(error.code) ? `cannot reach the sidecar at ${address}` : `the sidecar at ${address} failed the call`;
        reject(new SidecarError(`${what}: ${cause(error)}`));
      } else {
        resolve(response ?? {});
      }
    });
  });
}

/** grpc-js wraps the socket error in "No connection established. Last error: …"; keep the useful part. */
function cause(error: ServiceError): string {
  const details = (error.details || error.message).replace(/\.?\s*Resolution note:\s*$/, '');
  const last = /Last error: (?:Error: )?(.+)$/.exec(details);
  return last ? last[1] : details;
}

const command: Command = {
  name: 'check',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    const timeout = parseDuration(values.timeout, '--timeout');
    if (timeout <= 0) throw new UsageError('--timeout: must be positive');
    const request = buildCheckRequest({
      method: values.method,
      path: values.path,
      host: values.host,
      headers: values.header.map((h) => parseHeader(h)),
      token: values.token,
      serviceToken: values['service-token'],
      principal: values.principal,
      context: Object.fromEntries(values.context.map((c) => parseKeyValue(c, '--context'))),
    });
    const response = await sendCheck(values.address, request, timeout * 1000);
    const summary = summarize(response);
    if (values.json) output.out(JSON.stringify(response, null, 2));
    else output.out(formatSummary(summary).join('\n'));
    return summary.allow ? EXIT.OK : EXIT.DENIED_OR_FAILED;
  },
};

export default command;
