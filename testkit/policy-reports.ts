/**
 * PolicyReports as a sidecar answers them on `<prefix>.report.<service>`, built by hand, and
 * responders that answer that subject over a real NATS connection: what `authzctl shadow
 * report` and `policy unused` are tested against without starting sidecars.
 */
import { connect, type NatsConnection } from 'nats';
import type { DivergencePair, PolicyReport, ShadowReport } from '../src/policy/index.js';

/** A report of the orders example policy (test/fixtures/policies/orders.yaml), nothing used yet, no shadow. */
export function policyReport(instance: string, overrides: Partial<PolicyReport> = {}): PolicyReport {
  return {
    service: 'orders',
    instance,
    startedAt: '2026-12-01T08:00:00.000Z',
    at: '2026-12-01T09:00:00.000Z',
    policy: { name: 'orders', revision: '7' },
    checks: 0,
    rules: [
      { name: 'block-legacy', action: 'DENY', hits: 0 },
      { name: 'read-orders', action: 'ALLOW', hits: 0 },
      { name: 'checkout-service', action: 'ALLOW', hits: 0 },
      { name: 'support-user', action: 'ALLOW', hits: 0 },
      { name: 'health', action: 'ALLOW', hits: 0 },
    ],
    grants: [
      { role: 'admin', permission: 'orders:*', hits: 0 },
      { role: 'customer', permission: 'orders:read', hits: 0 },
    ],
    scopes: [{ scope: 'orders:read', hits: 0 }],
    shadow: null,
    ...overrides,
  };
}

/** A shadow report whose counts follow from its pairs (divergent: allow against deny, or an error). */
export function shadowReport(revision: string, pairs: readonly DivergencePair[], overrides: Partial<ShadowReport> = {}): ShadowReport {
  const sum = (keep: (p: DivergencePair) => boolean) => pairs.filter(keep).reduce((n, p) => n + p.count, 0);
  return {
    name: 'orders',
    revision,
    since: '2026-12-01T08:30:00.000Z',
    evaluated: sum(() => true),
    divergent: sum((p) => p.enforced !== p.shadow),
    errors: sum((p) => p.shadow === 'error'),
    conditionErrors: 0,
    overflow: 0,
    pairs: [...pairs],
    ...overrides,
  };
}

export interface ReportResponders {
  /** Adds a responder that answers every request with `body` (a report, or any text); resolves once the server knows it. */
  add(body: PolicyReport | string): Promise<void>;
  close(): Promise<void>;
}

/** Responders on `subject`, each its own subscription as each sidecar's is; every one answers once per request. */
export async function reportResponders(url: string, subject: string): Promise<ReportResponders> {
  const nc: NatsConnection = await connect({ servers: url });
  return {
    async add(body) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      nc.subscribe(subject, { callback: (err, msg) => err === null && msg.respond(text) });
      await nc.flush();
    },
    // Drain, not close: a responder's subscriptions are all flushed away before the next test starts its own.
    close: () => nc.drain(),
  };
}
