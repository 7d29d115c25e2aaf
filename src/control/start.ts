import { protectedServices, type Config } from '../config/index.js';
import { type ApiKeyStore, type KeyStore, parseRevocations, type RevocationStore } from '../keys/index.js';
import { compilePolicy, validatePolicyDocument, type CompiledPolicy, type PolicyReport, type ProtectedService } from '../policy/index.js';
import { DocumentApplier, type ApplierEvent, type ControlTarget } from './applier.js';
import { DecisionLog } from './decision-log.js';
import { apiKeysTarget, issuerKeysTarget, kvKeyFor, policyTarget, REVOCATIONS_TARGET, shadowTarget, trustDomainKeysTarget } from './kv-keys.js';
import { LastGoodCache } from './last-good.js';
import { connectControlPlane, type ControlPlaneEvent } from './nats-connect.js';
import { startKvFeed, type KvFeedEvent } from './nats-feed.js';
import type { SignerSet } from './signers.js';
import { answerRequests, defaultInstance, startStatusReporter } from './status.js';
import { SUBJECTS, type ControlDocument, type StatusReport } from './types.js';

export interface ControlStores {
  /** Every protected service; those whose policy source is `{ nats: true }` follow `policy.<name>` and `shadow.<name>`. */
  readonly services: readonly ProtectedService[];
  /** Key stores whose source is `{ nats: true }`, by issuer name. */
  readonly issuerKeys: ReadonlyMap<string, KeyStore>;
  /** The trust domain's store when its source is `{ nats: true }`. */
  readonly trustDomainKeys: KeyStore | undefined;
  readonly revocations: RevocationStore;
  /** The API key set's store when its source is `{ nats: true }`. */
  readonly apiKeys?: ApiKeyStore | undefined;
}

const encoder = new TextEncoder();

export type ControlRunEvent = ApplierEvent | KvFeedEvent | ControlPlaneEvent;

/** Whether each followed key is known to be current (see KvFeed.confirmedAt). */
export interface Freshness {
  /** Keys not confirmed current within `unconfirmedAfterMs`, sorted. */
  readonly unconfirmed: readonly string[];
  /** Per key, seconds since it was last confirmed current (Infinity: never). */
  readonly ageSeconds: Readonly<Record<string, number>>;
}

export interface ControlRun {
  readonly instance: string;
  readonly decisionLog: DecisionLog | null;
  revisions(): Record<string, number>;
  freshness(): Freshness;
  /** Readiness or revisions changed: republish status. */
  statusChanged(): void;
  stop(): Promise<void>;
}

/** What to follow in the bucket and how each document is applied. */
export function controlTargets(config: Config, stores: ControlStores): ControlTarget[] {
  const targets: ControlTarget[] = [];
  for (const { name, policy } of protectedServices(config)) {
    if (!policy.nats) continue;
    const service = stores.services.find((s) => s.name === name);
    if (service === undefined) throw new TypeError(`no stores for service "${name}"`);
    const target = policyTarget(name);
    const key = kvKeyFor('policy', target);
    targets.push({
      key,
      kind: 'policy',
      target,
      // Compiled completely before the swap: a Check sees the old or the new policy.
      apply: (doc: ControlDocument) => service.policies.swap(compileFromDocument(doc, key, name)),
    });
    const shadowKey = kvKeyFor('shadow', shadowTarget(name));
    targets.push({
      key: shadowKey,
      kind: 'shadow',
      target: shadowTarget(name),
      // A null body is the signed way to remove the shadow (deletes are ignored).
      apply: (doc: ControlDocument) =>
        service.shadow.swap(doc.body === null ? null : compileFromDocument(doc, shadowKey, name, service.shadow.onConditionError)),
    });
  }
  const keysTarget = (target: string, store: KeyStore): ControlTarget => ({
    key: kvKeyFor('keys', target),
    kind: 'keys',
    target,
    // The applier reports document_invalid_body; the store adds the key-set reason code.
    apply: (doc: ControlDocument) => store.setJwksFromControlPlane(JSON.stringify(doc.body)),
  });
  for (const [name, store] of stores.issuerKeys) targets.push(keysTarget(issuerKeysTarget(name), store));
  if (stores.trustDomainKeys && config.serviceTokens) targets.push(keysTarget(trustDomainKeysTarget(config.serviceTokens.trustDomain), stores.trustDomainKeys));
  targets.push({
    key: kvKeyFor('revocations', REVOCATIONS_TARGET),
    kind: 'revocations',
    target: REVOCATIONS_TARGET,
    apply: (doc: ControlDocument) => stores.revocations.swap(parseRevocations(doc.body, doc.revision)),
  });
  const apiKeys = stores.apiKeys;
  if (apiKeys !== undefined) {
    const target = apiKeysTarget(apiKeys.name);
    // The store reports the set's own reason code; the applier reports document_invalid_body.
    targets.push({ key: kvKeyFor('apikeys', target), kind: 'apikeys', target, apply: (doc: ControlDocument) => apiKeys.setFromControlPlane(doc.body) });
  }
  return targets;
}

function compileFromDocument(doc: ControlDocument, key: string, service: string, onConditionError?: () => void): CompiledPolicy {
  const policy = validatePolicyDocument(doc.body, key);
  if (policy.metadata.service !== service) throw new Error(`metadata.service is "${policy.metadata.service}", not "${service}"`);
  return compilePolicy(policy, { revision: String(doc.revision), file: key, onConditionError });
}

/**
 * Runs the NATS control plane: loads the last good documents from the cache (re-verified)
 * before anything else, then connects in the background (a NATS that is down never stops
 * the sidecar from serving), follows the bucket, reports status and publishes decisions.
 * The request path never awaits any of it.
 */
export async function startControl(options: {
  config: Config & { nats: NonNullable<Config['nats']> };
  stores: ControlStores;
  signers: SignerSet;
  ready: () => boolean;
  onEvent: (event: ControlRunEvent) => void;
  onDecisionDrop: (count: number) => void;
  /** This sidecar's PolicyReport for one of its services, answered on `<prefix>.report.<service>`. */
  policyReport: (service: ProtectedService) => Omit<PolicyReport, 'instance'>;
}): Promise<ControlRun> {
  const { config, stores, signers, onEvent } = options;
  const nats = config.nats;
  const instance = nats.instance ?? defaultInstance();
  // Assigned once, below, but read by the applier's listener, which the cache load calls first.
  // eslint-disable-next-line prefer-const
  let reporter: { changed(): void; stop(): void } | undefined;

  const applier = new DocumentApplier(controlTargets(config, stores), signers, new LastGoodCache(nats.cacheDir), (event) => {
    onEvent(event);
    reporter?.changed();
  });
  await applier.loadCache();

  const control = connectControlPlane({
    servers: nats.servers,
    randomize: nats.randomizeServers,
    name: `authz-sidecar ${config.service} ${instance}`,
    onEvent,
  });
  const feed = startKvFeed({
    control,
    bucket: nats.bucket,
    keys: applier.keys,
    onEntry: (entry) => (entry.operation === 'PUT' ? applier.accept(entry.key, entry.value, 'nats') : applier.deleted(entry.key)),
    onHistory: (key, entries) =>
      applier.acceptBest(
        key,
        entries.filter((e) => e.operation === 'PUT').map((e) => e.value),
        'nats',
      ),
    checkIntervalMs: nats.checkIntervalMs,
    onEvent,
  });
  // Two missed checks and a request timeout: later than that, something is wrong.
  const unconfirmedAfterMs = Math.max(2 * nats.checkIntervalMs + 2000, 3000);
  const freshness = (): Freshness => {
    const now = Date.now();
    const ageSeconds: Record<string, number> = {};
    for (const key of applier.keys) {
      const at = feed.confirmedAt(key);
      ageSeconds[key] = at === 0 ? Infinity : (now - at) / 1000;
    }
    const unconfirmed = applier.keys.filter((key) => ageSeconds[key] * 1000 > unconfirmedAfterMs).sort();
    return { unconfirmed, ageSeconds };
  };
  const report = (): StatusReport => ({
    service: config.service,
    instance,
    ready: options.ready(),
    revisions: applier.revisions(),
    lastError: applier.lastError(),
    connected: control.connected,
    unconfirmed: [...freshness().unconfirmed],
    at: new Date().toISOString(),
  });
  reporter = startStatusReporter({
    control,
    prefix: nats.subjectPrefix,
    service: config.service,
    instance,
    report,
    intervalMs: nats.statusIntervalSeconds * 1000,
  });
  const reports = stores.services.map((service) =>
    answerRequests(control, SUBJECTS.report(nats.subjectPrefix, service.name), () =>
      encoder.encode(JSON.stringify({ ...options.policyReport(service), instance })),
    ),
  );

  const decisions = nats.decisions;
  const decisionLog = decisions.enabled
    ? new DecisionLog({
        subject: (entry) => SUBJECTS.decisions(nats.subjectPrefix, entry.service),
        sampleAllows: decisions.sampleAllows,
        maxBuffer: decisions.maxBuffer,
        onDrop: options.onDecisionDrop,
        publisher: {
          get connected() {
            return control.connected;
          },
          publish: (subject, data) => control.connection()?.publish(subject, data),
        },
      })
    : null;

  return {
    instance,
    decisionLog,
    revisions: () => applier.revisions(),
    freshness,
    statusChanged: () => reporter?.changed(),
    stop: async () => {
      reporter?.stop();
      for (const answering of reports) answering.stop();
      decisionLog?.stop();
      await feed.stop();
      await control.close();
    },
  };
}
