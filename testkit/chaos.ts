/**
 * NATS chaos scenarios, shared by the fast tests (test/system/) and the long run
 * (`npm run chaos`, scripts/chaos.mjs): real nats-servers (one, or a 3-node JetStream
 * cluster), a fleet of real sidecars, signed policy revisions published as fast as the server
 * acknowledges them, and Checks probing every sidecar throughout. Each scenario returns its
 * figures; the callers decide what is a violation (all of them: any non-zero count).
 */
import { join } from 'node:path';
import { EXAMPLES } from './paths.js';
import { converge, startFleet, versionedPolicy, type Fleet, type FleetMember, type FleetOptions } from './fleet.js';
import { kvWriter, startNatsServer, type NatsServer } from './nats-server.js';
import { startNatsCluster, type ClusterNode, type NatsCluster } from './nats-cluster.js';
import { envoyRequest, type CheckResult } from './envoy-client.js';
import type { SidecarProcess } from './sidecar.js';
import { mint } from './tokens.js';
import { sleep } from './wait.js';
import { loadSigningKey, signDocument } from '../src/control/index.js';
import { parsePolicy } from '../src/policy/index.js';

export const POLICY_KEY = 'policy.orders';
const APPLIED = 'control document applied';

/** Revisions of `key` a sidecar process applied, in log order (cache loads included). */
export function appliedRevisions(sidecar: SidecarProcess, key = POLICY_KEY): number[] {
  return sidecar.logs.filter((l) => l.msg === APPLIED && l.kv_key === key).map((l) => l.revision as number);
}

export function lastApplied(sidecar: SidecarProcess, key = POLICY_KEY): number {
  return appliedRevisions(sidecar, key).at(-1) ?? 0;
}

/**
 * Every place where a sidecar applied a revision of a key not strictly above the one it
 * applied before it (over the process's whole life, every key): must be empty.
 */
export function orderViolations(members: readonly FleetMember[]): string[] {
  const violations: string[] = [];
  for (const m of members) {
    const previous = new Map<string, number>();
    for (const line of m.sidecar.logs) {
      if (line.msg !== APPLIED) continue;
      const key = String(line.kv_key);
      const revision = line.revision as number;
      const before = previous.get(key);
      if (!Number.isSafeInteger(revision) || (before !== undefined && revision <= before))
        violations.push(`${m.instance}: ${key} revision ${revision} applied after ${before}`);
      previous.set(key, revision);
    }
  }
  return violations;
}

/** Signs policy revision N (which opens `/vN/*`) with the fleet's control-plane key and writes it to the bucket. */
export interface PolicyPublisher {
  /** Highest revision the server acknowledged. */
  readonly newest: number;
  /** performance.now() of the newest acknowledgement. */
  readonly newestAt: number;
  /** Longest wait between two acknowledgements since the last call (the server unavailable to writers). */
  takeLongestStall(): number;
  publish(): Promise<number>;
  close(): Promise<void>;
}

export async function policyPublisher(fleet: Fleet, urls: string | string[]): Promise<PolicyPublisher> {
  const signing = await loadSigningKey(join(fleet.dir, 'cp.jwk.json'));
  const writer = await kvWriter(urls, 'authz');
  let issued = 0;
  let newest = 0;
  let newestAt = performance.now();
  let longest = 0;
  let mark = newestAt;
  return {
    get newest() {
      return newest;
    },
    get newestAt() {
      return newestAt;
    },
    takeLongestStall() {
      const value = longest;
      longest = 0;
      mark = performance.now();
      return Math.round(value);
    },
    async publish() {
      const revision = ++issued;
      const body = parsePolicy(versionedPolicy(revision), POLICY_KEY);
      const jws = await signDocument({ kind: 'policy', target: 'orders', revision, issuedAt: Math.floor(Date.now() / 1000), body }, signing);
      // Retries until acknowledged, so an outage only delays it; a timed-out attempt the server
      // did store shows up twice (same bytes), which sidecars ignore as a duplicate.
      await writer.put(POLICY_KEY, jws);
      const now = performance.now();
      longest = Math.max(longest, now - mark);
      newest = revision;
      newestAt = now;
      mark = now;
      return revision;
    },
    close: () => writer.close(),
  };
}

/** Publishes one revision after another (a `gapMs` pause between them) until stopped. */
export function startBurst(publisher: PolicyPublisher, gapMs: number): { readonly published: number; stop(): Promise<number> } {
  let running = true;
  let published = 0;
  const loop = (async () => {
    while (running) {
      await publisher.publish();
      published++;
      if (gapMs > 0) await sleep(gapMs);
    }
  })();
  return {
    get published() {
      return published;
    },
    /** Waits for the put in flight (which waits for the server), then resolves the count. */
    async stop() {
      running = false;
      await loop;
      return published;
    },
  };
}

/** One probe: the request and the decision every revision the test publishes must give it. */
export interface Expectation {
  readonly label: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Given the sidecar, whether the answer must be an allow (computed per Check). */
  readonly allow: (member: FleetMember) => boolean;
}

export interface ProbeResult {
  checks: number;
  failures: string[];
}

/**
 * Every `intervalMs`, each member (except `skip`) answers each expectation; an error (a 503,
 * a deadline, a dropped connection) or the wrong decision is a failure.
 */
export function startProbe(
  members: readonly FleetMember[],
  expectations: readonly Expectation[],
  intervalMs = 50,
  skip: ReadonlySet<FleetMember> = new Set(),
): { stop(): Promise<ProbeResult> } {
  let running = true;
  const result: ProbeResult = { checks: 0, failures: [] };
  const loops = members
    .filter((m) => !skip.has(m))
    .map(async (member) => {
      while (running) {
        for (const e of expectations) {
          const want = e.allow(member);
          let answer: CheckResult;
          try {
            answer = await member.client.check(envoyRequest({ path: e.path, headers: e.headers }), 5_000);
          } catch (error) {
            result.checks++;
            result.failures.push(`${member.instance} ${e.label}: ${(error as Error).message}`);
            continue;
          }
          result.checks++;
          const allowed = answer.status.code === 0;
          if (allowed !== want)
            result.failures.push(
              `${member.instance} ${e.label}: ${allowed ? 'allowed' : `denied (${answer.status.code})`}, expected ${want ? 'allow' : 'deny'}`,
            );
        }
        await sleep(intervalMs);
      }
    });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

/** Waits until every member applied `revision`; resolves ms elapsed, rejects naming laggards. */
export async function untilApplied(members: readonly FleetMember[], revision: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const behind = members.filter((m) => lastApplied(m.sidecar) < revision);
    if (behind.length === 0) return performance.now() - started;
    if (performance.now() - started > timeoutMs)
      throw new Error(
        `not every sidecar applied revision ${revision} within ${timeoutMs} ms: ${behind.map((m) => `${m.instance} at ${lastApplied(m.sidecar)}`).join(', ')}`,
      );
    await sleep(10);
  }
}

export interface ScenarioReport {
  scenario: string;
  sidecars: number;
  /** Revisions the server acknowledged during the scenario. */
  published: number;
  newest: number;
  /**
   * From the server's (or node's) return until every sidecar serves the newest revision (after
   * a single-server outage: the first revision written after the server's return).
   */
  convergeMs: number;
  /** From the newest revision's acknowledgement until every sidecar serves it. */
  lagMs: number;
  /** Longest time the publisher waited for an acknowledgement (how long writes were impossible). */
  publishStallMs: number;
  checks: number;
  failedChecks: number;
  outOfOrder: number;
  /** Sidecars whose final applied revision is not the newest published. */
  lost: number;
  notes: string[];
  failures: string[];
}

const allowed = (r: CheckResult) => r.status.code === 0;

interface Env {
  fleet: Fleet;
  publisher: PolicyPublisher;
  /** A customer token: GET /api/orders is allowed by every revision, /admin by none. */
  token: string;
}

/** Requests whose decision is the same in every revision: they must hold whatever a sidecar has applied. */
function constantExpectations(token: string): Expectation[] {
  return [
    { label: 'GET /api/orders with a customer token', path: '/api/orders', headers: { authorization: `Bearer ${token}` }, allow: () => true },
    { label: 'GET /admin with a customer token', path: '/admin', headers: { authorization: `Bearer ${token}` }, allow: () => false },
  ];
}

async function prepare(fleet: Fleet, urls: string | string[], warmup: number): Promise<Env> {
  const keys = await fleet.ctl('publish', 'keys', `${EXAMPLES}/keys/idp.jwks.json`, '--issuer', 'idp');
  if (keys.code !== 0) throw new Error(`authzctl publish keys failed: ${keys.stderr}`);
  const publisher = await policyPublisher(fleet, urls);
  for (let i = 0; i < warmup; i++) await publisher.publish();
  await untilApplied(fleet.members, publisher.newest, 20_000);
  await converge(fleet, `/v${publisher.newest}/x`, allowed, 10_000);
  // The key set is watched separately from the policy: ready means both arrived.
  for (const m of fleet.members) await m.sidecar.waitForLog((l) => l.msg === 'ready' || (l.msg === 'serving' && l.ready === true), 10_000);
  return { fleet, publisher, token: await mint({ roles: ['customer'] }, { ttlSeconds: 4 * 3600 }) };
}

/** Finishes a scenario: every sidecar on the newest revision (by its log and by a Check), figures collected. */
async function settle(env: Env, report: ScenarioReport, recoveredAt: number | null, timeoutMs: number): Promise<ScenarioReport> {
  const { fleet, publisher } = env;
  const newest = publisher.newest;
  report.newest = newest;
  try {
    await untilApplied(fleet.members, newest, timeoutMs);
    await converge(fleet, `/v${newest}/x`, allowed, timeoutMs);
  } catch (error) {
    report.failures.push((error as Error).message);
  }
  if (recoveredAt !== null) report.convergeMs = Math.round(performance.now() - recoveredAt);
  report.lagMs = Math.round(performance.now() - publisher.newestAt);
  report.publishStallMs = publisher.takeLongestStall();
  for (const m of fleet.members) {
    const older = await fleet.check(m, `/v${newest - 1}/x`).catch((e: Error) => ({ status: { code: -1, message: e.message } }));
    if (allowed(older)) report.failures.push(`${m.instance}: still allows /v${newest - 1}/x`);
  }
  report.lost = fleet.members.filter((m) => lastApplied(m.sidecar) !== newest).length;
  const violations = orderViolations(fleet.members);
  report.outOfOrder = violations.length;
  report.failures.push(...violations);
  return report;
}

function newReport(scenario: string, sidecars: number): ScenarioReport {
  return {
    scenario,
    sidecars,
    published: 0,
    newest: 0,
    convergeMs: 0,
    lagMs: 0,
    publishStallMs: 0,
    checks: 0,
    failedChecks: 0,
    outOfOrder: 0,
    lost: 0,
    notes: [],
    failures: [],
  };
}

// ---------------------------------------------------------------------------------------------
// One server

export interface SingleServerEnv extends Env {
  nats: NatsServer;
  close(): Promise<void>;
}

export async function startSingleServerEnv(sidecars: number, options: FleetOptions = {}): Promise<SingleServerEnv> {
  const nats = await startNatsServer();
  const fleet = await startFleet(nats.url, sidecars, 'orders', options);
  try {
    const env = await prepare(fleet, nats.url, 3);
    return {
      ...env,
      nats,
      async close() {
        await env.publisher.close();
        await fleet.close();
        await nats.stop();
      },
    };
  } catch (error) {
    await fleet.close();
    await nats.kill9();
    throw error;
  }
}

export interface OutageOptions {
  /** `sigstop`: the server is frozen (connections hang), then SIGCONT. `kill9`: killed, then started on the same port and store dir. */
  mode: 'sigstop' | 'kill9';
  outageMs: number;
  /** Pause between two publishes of the burst. */
  gapMs: number;
  /** Revisions published (and acknowledged) by the burst before the outage starts. */
  beforeOutage: number;
  /** Revisions published after the server is back, while sidecars catch up. */
  afterOutage: number;
  probeIntervalMs?: number;
  convergeTimeoutMs?: number;
}

/**
 * A burst of updates; mid-burst the server goes away for `outageMs` (the burst's next put
 * waits for it). While it is away every sidecar must keep answering from the revision it had
 * applied: `/v<that>/x` allowed, `/v<that+1>/x` denied, the constant requests unchanged,
 * never an error. Then everyone converges on the newest revision.
 */
export async function serverOutage(env: SingleServerEnv, options: OutageOptions): Promise<ScenarioReport> {
  const { fleet, publisher, nats } = env;
  const report = newReport(
    `single server ${options.mode === 'sigstop' ? 'SIGSTOP' : 'kill -9 + restart'} ${(options.outageMs / 1000).toFixed(1)} s`,
    fleet.members.length,
  );
  const first = publisher.newest;
  publisher.takeLongestStall();
  const burst = startBurst(publisher, options.gapMs);
  while (burst.published < options.beforeOutage) await sleep(5);

  const pid = nats.pid;
  if (options.mode === 'sigstop') process.kill(pid, 'SIGSTOP');
  else await nats.kill9();
  const outageStarted = performance.now();
  // What was delivered before the server went away may still be mid-apply: let it land.
  await sleep(300);
  const frozen = new Map(fleet.members.map((m) => [m, lastApplied(m.sidecar)]));
  report.notes.push(`applied when the server went away: ${[...frozen].map(([m, r]) => `${m.instance}=${r}`).join(' ')} (acknowledged ${publisher.newest})`);
  const perMember = startMemberProbe(fleet.members, frozen, env.token, options.probeIntervalMs ?? 50);
  await sleep(Math.max(0, options.outageMs - (performance.now() - outageStarted)));
  const outcome = await perMember.stop();
  for (const m of fleet.members)
    if (lastApplied(m.sidecar) !== frozen.get(m))
      outcome.failures.push(`${m.instance}: applied revision changed while the server was away (${frozen.get(m)} -> ${lastApplied(m.sidecar)})`);

  if (options.mode === 'sigstop') process.kill(pid, 'SIGCONT');
  else await nats.restart();
  const recoveredAt = performance.now();
  // The put the burst was blocked on goes through first; once every sidecar has it, they have
  // caught up with the outage: that is the time to converge after recovery.
  const backlog = publisher.newest + 1;
  while (publisher.newest < backlog) await sleep(5);
  try {
    await untilApplied(fleet.members, backlog, options.convergeTimeoutMs ?? 15_000);
  } catch (error) {
    report.failures.push((error as Error).message);
  }
  report.convergeMs = Math.round(performance.now() - recoveredAt);
  // Then the burst goes on a while, and everyone must end on its last revision.
  const target = publisher.newest + options.afterOutage;
  while (publisher.newest < target) await sleep(5);
  await burst.stop();
  report.published = publisher.newest - first;
  report.checks = outcome.checks;
  report.failedChecks = outcome.failures.length;
  report.failures.push(...outcome.failures.slice(0, 20));
  return settle(env, report, null, options.convergeTimeoutMs ?? 15_000);
}

/** startProbe with the revision-dependent paths resolved against each member's frozen revision. */
function startMemberProbe(
  members: readonly FleetMember[],
  frozen: ReadonlyMap<FleetMember, number>,
  token: string,
  intervalMs: number,
): { stop(): Promise<ProbeResult> } {
  const probes = members.map((m) => {
    const r = frozen.get(m)!;
    return startProbe(
      [m],
      [
        { label: `/v${r}/x (applied)`, path: `/v${r}/x`, allow: () => true },
        { label: `/v${r + 1}/x (not applied)`, path: `/v${r + 1}/x`, allow: () => false },
        ...constantExpectations(token),
      ],
      intervalMs,
    );
  });
  return {
    async stop() {
      const results = await Promise.all(probes.map((p) => p.stop()));
      return { checks: results.reduce((n, r) => n + r.checks, 0), failures: results.flatMap((r) => r.failures) };
    },
  };
}

export interface SlowConsumerOptions {
  /** How long the slow sidecar's process is stopped (SIGSTOP … SIGCONT). */
  stopMs: number;
  /** Revisions published, back to back, while it is stopped. */
  updates: number;
  convergeTimeoutMs?: number;
}

/**
 * The first sidecar is frozen (SIGSTOP) while `updates` revisions are published back to back,
 * far faster than it could apply them even if it ran; the others keep serving and following.
 * After SIGCONT it must end on the newest revision, having never applied one out of order.
 */
export async function slowConsumer(env: SingleServerEnv, options: SlowConsumerOptions): Promise<ScenarioReport> {
  const { fleet, publisher, nats } = env;
  const report = newReport(`slow consumer: 1 sidecar stopped ${(options.stopMs / 1000).toFixed(1)} s, ${options.updates} updates`, fleet.members.length);
  const slow = fleet.members[0];
  const first = publisher.newest;
  publisher.takeLongestStall();
  const logBefore = nats.stderr().length;
  const slowLogsBefore = fleet.members[0].sidecar.logs.length;
  const probe = startProbe(fleet.members, constantExpectations(env.token), 50, new Set([slow]));
  process.kill(slow.sidecar.child.pid!, 'SIGSTOP');
  const stoppedAt = performance.now();
  try {
    for (let i = 0; i < options.updates; i++) await publisher.publish();
    report.notes.push(`${options.updates} updates published in ${Math.round(performance.now() - stoppedAt)} ms`);
    await sleep(Math.max(0, options.stopMs - (performance.now() - stoppedAt)));
  } finally {
    process.kill(slow.sidecar.child.pid!, 'SIGCONT');
  }
  const recoveredAt = performance.now();
  report.notes.push(`at SIGCONT the slow sidecar had applied revision ${lastApplied(slow.sidecar)} (newest ${publisher.newest})`);
  const outcome = await probe.stop();
  report.published = publisher.newest - first;
  report.checks = outcome.checks;
  report.failedChecks = outcome.failures.length;
  report.failures.push(...outcome.failures.slice(0, 20));
  await settle(env, report, recoveredAt, options.convergeTimeoutMs ?? 15_000);
  // Checks the slow sidecar answers once it runs again: its own (possibly stale) state, never an error.
  const after = await startProbe([slow], constantExpectations(env.token), 0).stop();
  report.checks += after.checks;
  report.failedChecks += after.failures.length;
  const slowLines = nats
    .stderr()
    .slice(logBefore)
    .split('\n')
    .filter((l) => /slow consumer/i.test(l)).length;
  const reconnects = slow.sidecar.logs.slice(slowLogsBefore).filter((l) => l.msg === 'nats reconnected').length;
  report.notes.push(`server logged ${slowLines} slow-consumer line(s); the slow sidecar reconnected ${reconnects} time(s)`);
  return report;
}

// ---------------------------------------------------------------------------------------------
// A 3-node JetStream cluster

export interface ClusterEnv extends Env {
  cluster: NatsCluster;
  close(): Promise<void>;
}

/**
 * `pinned`: sidecar i dials node i mod 3 first (servers in that order, not randomized), so
 * every node serves a sidecar whichever one is faulted.
 */
export async function startClusterEnv(sidecars: number, options: { pinned?: boolean } = {}): Promise<ClusterEnv> {
  const cluster = await startNatsCluster(3);
  let fleet: Fleet | undefined;
  try {
    const urls = cluster.urls;
    const rotated = (i: number) => [...urls.slice(i % urls.length), ...urls.slice(0, i % urls.length)];
    fleet = await startFleet(urls, sidecars, 'orders', { member: (i) => (options.pinned ? { servers: rotated(i) } : {}) });
    // The documented way; sidecars started first wait for the bucket to appear.
    const created = await fleet.ctl('bucket', 'create', '--replicas', '3');
    if (created.code !== 0) throw new Error(`authzctl bucket create failed: ${created.stderr}`);
    const env = await prepare(fleet, cluster.urls, 3);
    return {
      ...env,
      cluster,
      async close() {
        await env.publisher.close();
        await fleet!.close();
        await cluster.stop();
      },
    };
  } catch (error) {
    await fleet?.close();
    await Promise.all(cluster.nodes.map((n) => n.server.kill9()));
    throw error;
  }
}

export interface NodeRestartOptions {
  /** `connected`: the node a sidecar is connected to (a different sidecar each round); `leader`: the bucket stream's leader. */
  target: 'connected' | 'leader';
  rounds: number;
  /** How long the killed node stays down. */
  downMs: number;
  gapMs: number;
  /** Revisions acknowledged between two kills (and after the last restart). */
  between: number;
  convergeTimeoutMs?: number;
}

/**
 * During a burst, kill -9 a node (`rounds` times), keep it down `downMs`, start it again on
 * the same ports and store dir. Sidecars on it fail over to the other two; throughout, every
 * sidecar answers the revision-independent Checks correctly and without error; at the end
 * all are on the newest revision.
 */
export async function clusterNodeRestarts(env: ClusterEnv, options: NodeRestartOptions): Promise<ScenarioReport> {
  const { fleet, publisher, cluster } = env;
  const report = newReport(
    `3-node cluster: kill -9 ${options.target === 'leader' ? 'the stream leader' : "a sidecar's node"} x${options.rounds}, down ${(options.downMs / 1000).toFixed(1)} s`,
    fleet.members.length,
  );
  const first = publisher.newest;
  const logsBefore = new Map(fleet.members.map((m) => [m, m.sidecar.logs.length]));
  publisher.takeLongestStall();
  const burst = startBurst(publisher, options.gapMs);
  const probe = startProbe(fleet.members, constantExpectations(env.token), 50);
  let recoveredAt = performance.now();
  const killed: string[] = [];
  try {
    for (let round = 0; round < options.rounds; round++) {
      const target = publisher.newest + options.between;
      while (publisher.newest < target) await sleep(5);
      let victim: ClusterNode | null = null;
      if (options.target === 'leader') {
        const leader = await cluster.streamLeader('authz');
        victim = cluster.nodes.find((n) => n.name === leader) ?? null;
      } else {
        victim = await cluster.nodeServing(`orders ${fleet.members[round % fleet.members.length].instance}`);
      }
      if (!victim) throw new Error(`round ${round}: no ${options.target} node found`);
      const meta = await cluster.metaLeader();
      killed.push(`${victim.name}${victim.name === meta ? ' (also meta leader)' : ''}`);
      await victim.server.kill9();
      await sleep(options.downMs);
      await victim.server.restart();
      recoveredAt = performance.now();
      await cluster.waitForJetStream();
    }
    const target = publisher.newest + options.between;
    while (publisher.newest < target) await sleep(5);
  } finally {
    await burst.stop();
  }
  const outcome = await probe.stop();
  report.notes.push(`killed: ${killed.join(', ')}`);
  const failovers = fleet.members.map((m) => `${m.instance}=${m.sidecar.logs.slice(logsBefore.get(m)).filter((l) => l.msg === 'nats reconnected').length}`);
  report.notes.push(`reconnects per sidecar: ${failovers.join(' ')}`);
  report.published = publisher.newest - first;
  report.checks = outcome.checks;
  report.failedChecks = outcome.failures.length;
  report.failures.push(...outcome.failures.slice(0, 20));
  return settle(env, report, recoveredAt, options.convergeTimeoutMs ?? 20_000);
}

export function violations(report: ScenarioReport): number {
  return report.failedChecks + report.outOfOrder + report.lost + report.failures.length;
}
