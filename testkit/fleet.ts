import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authzctlWith, type Run } from './authzctl.js';
import { EnvoyClient, envoyRequest, type CheckResult } from './envoy-client.js';
import { startSidecar, tempDir, writeConfig, type SidecarProcess } from './sidecar.js';

/** A policy whose only anonymous ALLOW rule opens `/v<version>/*`, so each revision is observable. */
export function versionedPolicy(version: number, service = 'orders'): string {
  return `apiVersion: authz-sidecar/v1
kind: Policy
metadata: { name: ${service}, service: ${service} }
spec:
  defaultAction: DENY
  roles: { customer: ["orders:read"] }
  rules:
    - name: open-v${version}
      action: ALLOW
      to: [{ paths: ["/v${version}/*"] }]
    - name: read-orders
      action: ALLOW
      to: [{ methods: [GET], paths: ["/api/orders", "/api/orders/*"] }]
      from: [{ issuers: ["https://idp.example.test"] }]
`;
}

export interface FleetMember {
  readonly instance: string;
  readonly configPath: string;
  sidecar: SidecarProcess;
  client: EnvoyClient;
}

export interface Fleet {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly members: FleetMember[];
  ctl(...args: string[]): Promise<Run>;
  publishPolicy(version: number): Promise<Run>;
  check(member: FleetMember, path: string, headers?: Record<string, string>): Promise<CheckResult>;
  restart(member: FleetMember): Promise<void>;
  close(): Promise<void>;
}

export interface FleetOptions {
  /**
   * Per member: its cache dir (default `<instance>/cache`), a command wrapping the sidecar (see
   * startSidecar), and its NATS servers in the order it must dial them (default: all, randomized).
   */
  member?: (index: number, instance: string, dir: string) => { cacheDir?: string; wrap?: string[]; servers?: string[] };
}

/**
 * `count` sidecars for one service, all following a NATS bucket for their policy and the
 * idp issuer's keys, each with its own last-good cache, plus a control-plane key pair made
 * with `authzctl keygen` and an environment for authzctl.
 */
export async function startFleet(natsUrl: string | string[], count: number, service = 'orders', options: FleetOptions = {}): Promise<Fleet> {
  const dir = tempDir();
  const urls = Array.isArray(natsUrl) ? natsUrl : [natsUrl];
  const env = { AUTHZ_NATS_URL: urls.join(','), AUTHZ_SIGNING_KEY: join(dir, 'cp.jwk.json') };
  const keygen = await authzctlWith(env, 'keygen', '--out', join(dir, 'cp.jwk.json'), '--kid', 'cp-test');
  if (keygen.code !== 0) throw new Error(`keygen failed: ${keygen.stderr}`);
  const ctl = (...args: string[]) => authzctlWith(env, ...args);
  const policyFile = join(dir, 'policy.yaml');

  const members: FleetMember[] = [];
  const wraps = new Map<FleetMember, string[] | undefined>();
  for (let i = 0; i < count; i++) {
    const instance = `${service}-${i}`;
    mkdirSync(join(dir, instance));
    const custom = options.member?.(i, instance, dir) ?? {};
    const configPath = writeConfig(
      join(dir, instance),
      `service: ${service}
issuers:
  - name: idp
    issuer: https://idp.example.test
    audiences: [orders]
    algorithms: [ES256]
    keys: { nats: true }
policy: { nats: true }
nats:
  servers: ${JSON.stringify(custom.servers ?? urls)}
  randomizeServers: ${custom.servers === undefined}
  bucket: authz
  signers: [../cp.pub.jwk.json]
  cacheDir: ${JSON.stringify(custom.cacheDir ?? 'cache')}
  instance: ${instance}
  statusIntervalSeconds: 1
log: { level: debug }
`,
    );
    const sidecar = await startSidecar(configPath, { wrap: custom.wrap });
    const member = { instance, configPath, sidecar, client: new EnvoyClient(sidecar.grpcAddress) };
    wraps.set(member, custom.wrap);
    members.push(member);
  }

  return {
    dir,
    env,
    members,
    ctl,
    publishPolicy: (version) => {
      writeFileSync(policyFile, versionedPolicy(version, service));
      return ctl('publish', 'policy', policyFile, '--service', service);
    },
    check: (member, path, headers = {}) => member.client.check(envoyRequest({ path, headers })),
    restart: async (member) => {
      member.client.close();
      await member.sidecar.stop();
      member.sidecar = await startSidecar(member.configPath, { wrap: wraps.get(member) });
      member.client = new EnvoyClient(member.sidecar.grpcAddress);
    },
    close: async () => {
      for (const m of members) {
        m.client.close();
        await m.sidecar.stop();
      }
    },
  };
}

/** Polls until every member answers `accept` for `path`; resolves the elapsed ms, or rejects after `timeoutMs`. */
export async function converge(
  fleet: Fleet,
  path: string,
  accept: (r: CheckResult) => boolean,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<number> {
  const started = performance.now();
  const pending = new Set(fleet.members);
  while (pending.size > 0) {
    for (const member of [...pending]) if (accept(await fleet.check(member, path, headers))) pending.delete(member);
    if (pending.size === 0) break;
    if (performance.now() - started > timeoutMs)
      throw new Error(`not converged on ${path} after ${timeoutMs} ms: ${[...pending].map((m) => m.instance).join(', ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - started;
}
