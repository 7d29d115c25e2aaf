/**
 * Push latency over the real control plane: a nats-server with JetStream, a fleet of
 * sidecars following the bucket (testkit/fleet.ts), documents signed in-process with
 * the fleet's control-plane key. For each push, latency is from just before the KV put to
 * each sidecar's `control document applied` log line for that revision (its pino ISO
 * timestamp); the push's figure is the slowest sidecar. Rotations publish the issuer's key
 * set with a new kid added; afterwards (untimed) a token signed with the new key must be
 * allowed by every sidecar.
 */
import type { JsonWebKey } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { envoyRequest } from '../../testkit/envoy-client.js';
import { startFleet, type Fleet, type FleetMember } from '../../testkit/fleet.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';
import { startNatsServer, type NatsServer } from '../../testkit/nats-server.js';
import type { Group } from '../options.js';
import { generatePolicy } from '../policies/generate.js';
import { isReady } from '../processes.js';
import { Publisher, type Put } from '../publisher.js';
import { percentile } from '../stats.js';
import { IDP_JWKS_FILE, minterFor, readJson } from '../../testkit/tokens.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';

const PAUSE_MS = 50;

/** A policy revision: the 50-rule policy plus one rule that names the revision. */
export function pushedPolicy(revision: number): Record<string, unknown> {
  return generatePolicy({ rules: 50, extraRules: [{ name: `open-v${revision}`, action: 'ALLOW', to: [{ paths: [`/v${revision}/*`] }] }] });
}

/**
 * NATS, a fleet whose members hold the idp keys and a policy, and a publisher. `close` removes
 * the fleet's directory (configs, last-good caches) unless `keepDir`.
 */
export async function startControlPlane(
  size: number,
  options: { keepDir?: boolean } = {},
): Promise<{ nats: NatsServer; fleet: Fleet; publisher: Publisher; close(): Promise<void> }> {
  const nats = await startNatsServer();
  const fleet = await startFleet(nats.url, size);
  const signed = await Publisher.open(nats.url, join(fleet.dir, 'cp.jwk.json'));
  await signed.publish('keys', 'issuer/idp', readJson(IDP_JWKS_FILE));
  await signed.publish('policy', 'orders', pushedPolicy(1));
  const deadline = Date.now() + 20_000;
  for (const m of fleet.members) {
    while (!(await isReady(m.sidecar.adminUrl))) {
      if (Date.now() > deadline) throw new Error(`${m.instance} not ready 20 s after the first documents`);
      await sleep(20);
    }
  }
  return {
    nats,
    fleet,
    publisher: signed,
    close: async () => {
      await signed.close();
      await fleet.close();
      await nats.stop();
      if (!options.keepDir) rmSync(fleet.dir, { recursive: true, force: true });
    },
  };
}

interface Push {
  readonly put: Put;
  /** Per member: ms from the put's start, and from its ack. */
  readonly fromStart: number[];
  readonly fromAck: number[];
}

async function appliedEverywhere(fleet: Fleet, put: Put): Promise<Push> {
  const lines = await Promise.all(
    fleet.members.map((m) => m.sidecar.waitForLog((l) => l.msg === 'control document applied' && l.kv_key === put.key && l.revision === put.revision, 10_000)),
  );
  const applied = lines.map((l) => Date.parse(String(l.time)));
  return { put, fromStart: applied.map((t) => t - put.startedAt), fromAck: applied.map((t) => t - put.ackedAt) };
}

export async function controlPlane(ctx: Context): Promise<ScenarioOutput> {
  const { options: o } = ctx;
  const want = (g: Group) => o.only.has(g);
  ctx.progress(`control plane: nats-server and ${o.fleetSize} sidecars`);
  const plane = await startControlPlane(o.fleetSize);
  const { fleet, publisher } = plane;
  const out: ScenarioOutput = { rows: {}, raw: [], commands: [] };
  try {
    if (want('push')) {
      const pushes: Push[] = [];
      for (let i = 0; i < o.pushes; i++) {
        const put = await publisher.publish('policy', 'orders', pushedPolicy(i + 2));
        pushes.push(await appliedEverywhere(fleet, put));
        await sleep(PAUSE_MS);
      }
      ctx.ledger.note(`push: each of ${o.pushes} policy revisions logged as applied by all ${o.fleetSize} sidecars`);
      merge(out, summarise('push-p99', 'Policy pushes', pushes, o.fleetSize));
    }
    if (want('rotation')) {
      const rotations: Push[] = [];
      let previous = (readJson(IDP_JWKS_FILE) as { keys: JsonWebKey[] }).keys[0];
      let accepted = 0;
      for (let i = 0; i < o.rotations; i++) {
        const kid = `idp-rot-${i + 1}`;
        const { publicKey, privateKey } = nodeKeyPair('ec', { namedCurve: 'P-256' });
        const fresh = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
        const put = await publisher.publish('keys', 'issuer/idp', { keys: [previous, fresh] });
        rotations.push(await appliedEverywhere(fleet, put));
        previous = fresh;
        accepted += await newKidAccepted(fleet.members, minterFor({ ...privateKey.export({ format: 'jwk' }), kid }).mint());
        await sleep(PAUSE_MS);
      }
      ctx.ledger.note(`rotation: after each of ${o.rotations} rotations a token signed with the new kid was allowed by every sidecar (${accepted} checks)`);
      merge(out, summarise('rotation-p99', 'Key rotations (new kid added)', rotations, o.fleetSize));
    }
  } finally {
    await plane.close();
  }
  return out;
}

async function newKidAccepted(members: FleetMember[], token: string): Promise<number> {
  for (const m of members) {
    const result = await m.client.check(envoyRequest({ path: '/api/orders/1', headers: { authorization: `Bearer ${token}`, 'x-tenant-id': 'acme' } }));
    if (result.status.code !== 0) throw new Error(`${m.instance} refused a token with the new kid: ${JSON.stringify(result.status)}`);
  }
  return members.length;
}

function merge(into: ScenarioOutput, from: ScenarioOutput): void {
  Object.assign(into.rows, from.rows);
  (into.raw as string[]).push(...from.raw);
}

function summarise(id: 'push-p99' | 'rotation-p99', title: string, pushes: Push[], size: number): ScenarioOutput {
  const each = id === 'push-p99' ? 'push' : 'rotation';
  const slowest = pushes.map((p) => Math.max(...p.fromStart));
  const all = pushes.flatMap((p) => p.fromStart);
  const allFromAck = pushes.flatMap((p) => p.fromAck);
  const p99 = percentile(slowest, 99);
  return {
    rows: { [id]: { text: `p99 ${fmt.ms(p99)} (p50 ${fmt.ms(percentile(slowest, 50))}), slowest of ${size} per ${each}`, met: p99 <= 250 } },
    raw: [
      `### ${title}: ${pushes.length} × ${size} sidecars (ms from the KV put; 1 ms log resolution)\n\n` +
        table(
          ['measure', 'p50', 'p99', 'max'],
          [
            [`slowest sidecar per ${each}, from put start`, ...[50, 99, 100].map((p) => fmt.ms(percentile(slowest, p)))],
            ['every sidecar, from put start', ...[50, 99, 100].map((p) => fmt.ms(percentile(all, p)))],
            ['every sidecar, from put ack', ...[50, 99, 100].map((p) => fmt.ms(percentile(allFromAck, p)))],
            [
              'put round trip (start → ack)',
              ...[50, 99, 100].map((p) =>
                fmt.ms(
                  percentile(
                    pushes.map((x) => x.put.ackedAt - x.put.startedAt),
                    p,
                  ),
                ),
              ),
            ],
          ],
        ),
    ],
    commands: [],
  };
}
