/**
 * The control plane's promise measured during a NATS fault, not after it: with the bucket's
 * stream leader killed (SIGKILL) or frozen (SIGSTOP), every sidecar, whichever node it is
 * connected to, must apply each policy revision and enforce a revocation within a bound of
 * the cluster accepting the write. Shared by test/system/ and `npm run chaos`.
 */
import { join } from 'node:path';
import { loadSigningKey, REVOCATIONS_KEY, signDocument } from '../src/control/index.js';
import { appliedRevisions, POLICY_KEY, startProbe, type ClusterEnv } from './chaos.js';
import { envoyRequest } from './envoy-client.js';
import type { FleetMember } from './fleet.js';
import { kvWriter } from './nats-server.js';
import { mint } from './tokens.js';
import { sleep } from './wait.js';

export interface GuaranteeOptions {
  /**
   * `kill9`: the stream leader is killed, and restarted at the end; `sigstop`: frozen until the
   * end. The end: `faultMs` after the fault, or once every write has been judged if later.
   */
  readonly fault: 'kill9' | 'sigstop';
  readonly faultMs: number;
  /** Policy revisions published during the fault, one after another, each retried until accepted. */
  readonly revisions: number;
  /** The promise: from a write's acceptance until every sidecar enforces it. */
  readonly boundMs: number;
}

export interface GuaranteeReport {
  readonly scenario: string;
  /** From the fault until its end (at least faultMs, longer while writes were still being judged). */
  readonly faultLastedMs: number;
  /** The node faulted, and which node each sidecar was connected to when it was. */
  readonly victim: string;
  readonly connectedTo: Readonly<Record<string, string>>;
  /** From the fault until the cluster accepted the first write. */
  readonly firstAcceptMs: number;
  readonly published: number;
  /** Per sidecar, the worst time from a policy revision's acceptance until it applied it or a newer one. */
  readonly policyWorstMs: Readonly<Record<string, number>>;
  /** Per sidecar, from the revocation's acceptance until it refused the revoked token. */
  readonly revocationMs: Readonly<Record<string, number>>;
  /** Watches the sidecars found stale and re-created during the scenario. */
  readonly staleWatches: number;
  readonly checks: number;
  /** Every broken promise: a bound exceeded, a failed or wrong Check, an out-of-order apply. */
  readonly failures: string[];
}

const APPLIED = 'control document applied';

/** Epoch ms at which `member` logged applying revision `revision` (or a newer one) of `key`, or null. */
function appliedAt(member: FleetMember, key: string, revision: number, sinceLine: number): number | null {
  const line = member.sidecar.logs.slice(sinceLine).find((l) => l.msg === APPLIED && l.kv_key === key && (l.revision as number) >= revision);
  return line === undefined ? null : Date.parse(String(line.time));
}

function highestApplied(members: readonly FleetMember[], key: string): number {
  return Math.max(0, ...members.flatMap((m) => appliedRevisions(m.sidecar, key)));
}

/** Polls `member` until it refuses `token` (401); resolves the epoch ms of that answer, or null at `deadline`. */
async function refusedAt(member: FleetMember, token: string, deadline: number): Promise<number | null> {
  while (Date.now() < deadline) {
    const answer = await member.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }), 2_000).catch(() => null);
    if (answer !== null && answer.status.code === 16) return Date.now();
    await sleep(10);
  }
  return null;
}

export async function faultDuringPublishing(env: ClusterEnv, options: GuaranteeOptions): Promise<GuaranteeReport> {
  const { fleet, cluster, publisher } = env;
  const scenario = `${options.fault === 'kill9' ? 'kill -9' : 'SIGSTOP'} the stream leader while publishing ${options.revisions} revisions and a revocation`;
  const failures: string[] = [];
  const signing = await loadSigningKey(join(fleet.dir, 'cp.jwk.json'));
  const writer = await kvWriter(cluster.urls, 'authz');
  const token = await mint({ roles: ['customer'] }, { ttlSeconds: 3600 });
  const { jti } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { jti: string };
  for (const m of fleet.members) {
    const answer = await m.client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }));
    if (answer.status.code !== 0) throw new Error(`${m.instance} refuses the token before it is revoked (${answer.status.code})`);
  }
  const logStart = new Map(fleet.members.map((m) => [m, m.sidecar.logs.length]));

  // A node an earlier scenario restarted must have caught up: the fault takes one node of three,
  // and the promise is about the two current ones that remain.
  await cluster.waitForStreamCurrent('authz');
  const leader = await cluster.streamLeader('authz');
  const victim = cluster.nodes.find((n) => n.name === leader);
  if (victim === undefined) throw new Error('the bucket has no stream leader');
  const connectedTo: Record<string, string> = {};
  for (const m of fleet.members) connectedTo[m.instance] = (await cluster.nodeServing(`orders ${m.instance}`))?.name ?? '?';

  const probe = startProbe(
    fleet.members,
    [{ label: 'GET /admin with a fresh token', path: '/admin', headers: { authorization: `Bearer ${token}` }, allow: () => false }],
    50,
  );
  const faultedAt = Date.now();
  if (options.fault === 'kill9') await victim.server.kill9();
  else process.kill(victim.server.pid, 'SIGSTOP');
  const accepted: Array<{ revision: number; at: number }> = [];
  let revocationAcceptedAt = 0;
  try {
    for (let i = 0; i < options.revisions; i++) {
      const revision = await publisher.publish();
      accepted.push({ revision, at: Date.now() });
    }
    const revision = highestApplied(fleet.members, REVOCATIONS_KEY) + 1;
    const body = { entries: [{ jti, until: Math.floor(Date.now() / 1000) + 3600 }] };
    await writer.put(
      REVOCATIONS_KEY,
      await signDocument({ kind: 'revocations', target: '*', revision, issuedAt: Math.floor(Date.now() / 1000), body }, signing),
    );
    revocationAcceptedAt = Date.now();
    const deadline = revocationAcceptedAt + options.boundMs + 5_000;
    const refused = await Promise.all(fleet.members.map((m) => refusedAt(m, token, deadline)));
    // Every write gets its full bound before it is judged, and the fault lasts until then (at
    // least faultMs): whatever is measured is measured during the fault.
    await sleep(Math.max(accepted.at(-1)!.at + options.boundMs + 100, faultedAt + options.faultMs) - Date.now());
    const faultLastedMs = Date.now() - faultedAt;

    const revocationMs: Record<string, number> = {};
    const policyWorstMs: Record<string, number> = {};
    fleet.members.forEach((m, index) => {
      const at = refused[index];
      revocationMs[m.instance] = at === null ? Infinity : at - revocationAcceptedAt;
      let worst = 0;
      for (const { revision, at: acceptedAt } of accepted) {
        const applied = appliedAt(m, POLICY_KEY, revision, logStart.get(m)!);
        worst = Math.max(worst, applied === null ? Infinity : applied - acceptedAt);
      }
      policyWorstMs[m.instance] = worst;
    });
    for (const [instance, ms] of Object.entries(policyWorstMs))
      if (ms > options.boundMs)
        failures.push(
          `${instance} (on ${connectedTo[instance]}): a policy revision took ${ms} ms to apply after it was accepted (bound ${options.boundMs} ms)`,
        );
    for (const [instance, ms] of Object.entries(revocationMs))
      if (ms > options.boundMs)
        failures.push(
          `${instance} (on ${connectedTo[instance]}): the revoked token was still accepted ${ms} ms after the revocation was (bound ${options.boundMs} ms)`,
        );

    const late = new Set(failures.map((f) => f.split(' ')[0]));
    for (const m of fleet.members.filter((m) => late.has(m.instance)))
      failures.push(`${m.instance} timeline: ${timeline(m, logStart.get(m)!, faultedAt, accepted, revocationAcceptedAt)}`);
    const outcome = await probe.stop();
    failures.push(...outcome.failures.slice(0, 20));
    const staleWatches = fleet.members.reduce(
      (n, m) => n + m.sidecar.logs.slice(logStart.get(m)).filter((l) => String(l.msg).startsWith('watch behind the bucket')).length,
      0,
    );
    return {
      scenario,
      faultLastedMs,
      victim: victim.name,
      connectedTo,
      firstAcceptMs: (accepted[0]?.at ?? Date.now()) - faultedAt,
      published: accepted.length,
      policyWorstMs,
      revocationMs,
      staleWatches,
      checks: outcome.checks,
      failures,
    };
  } finally {
    await probe.stop();
    if (options.fault === 'kill9') await victim.server.restart();
    else process.kill(victim.server.pid, 'SIGCONT');
    await writer.close();
    await cluster.waitForJetStream();
  }
}

/** What a late sidecar did, relative to the fault: control-plane log lines and the writes' acceptances. */
function timeline(
  member: FleetMember,
  sinceLine: number,
  faultedAt: number,
  accepted: ReadonlyArray<{ revision: number; at: number }>,
  revocationAt: number,
): string {
  const events = member.sidecar.logs
    .slice(sinceLine)
    .filter((l) => /^kv-|^nats|^watch behind|applied/.test(String(l.msg)))
    .map((l) => ({
      at: Date.parse(String(l.time)),
      text: `${l.msg}${l.kv_key ? ` ${l.kv_key}` : ''}${l.revision ? ` r${l.revision}` : ''}${l.reason ? ` (${l.reason})` : ''}${l.message ? ` (${l.message})` : ''}`,
    }));
  events.push(...accepted.map(({ revision, at }) => ({ at, text: `ACCEPTED policy r${revision}` })), { at: revocationAt, text: 'ACCEPTED revocation' });
  return events
    .sort((a, b) => a.at - b.at)
    .map((e) => `+${e.at - faultedAt} ${e.text}`)
    .join(' | ');
}

export function formatGuarantee(report: GuaranteeReport): string {
  const per = (values: Readonly<Record<string, number>>) =>
    Object.entries(values)
      .map(([instance, ms]) => `${instance}@${report.connectedTo[instance]} ${Number.isFinite(ms) ? `${ms} ms` : 'never'}`)
      .join(', ');
  return [
    `${report.scenario} (victim ${report.victim}, down ${(report.faultLastedMs / 1000).toFixed(1)} s): first write accepted ${report.firstAcceptMs} ms into the fault, ${report.published} revisions`,
    `worst policy apply after acceptance: ${per(report.policyWorstMs)}`,
    `revocation enforced after acceptance: ${per(report.revocationMs)}`,
    `stale watches re-created: ${report.staleWatches}; Checks during the fault: ${report.checks}`,
  ].join('; ');
}
