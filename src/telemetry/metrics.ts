import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ShadowPolicy } from '../policy/index.js';
import type { TokenCacheStats } from '../tokens/index.js';
import { DecisionCounter, FastHistogram } from './hot-metrics.js';

/**
 * Every metric the sidecar exports. Label values are stable reason codes, never free text,
 * so cardinality stays bounded.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly checks = new DecisionCounter('authz_checks_total', 'Checks answered, by protected service, decision (allow|deny) and reason code.', this.registry);

  readonly checkDuration = new FastHistogram(
    'authz_check_duration_seconds',
    'Time from receiving a CheckRequest to handing the CheckResponse to gRPC.',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
  );

  /** Read at scrape time from the caches themselves (see `trackTokenCache`): nothing is counted per Check. */
  private cacheStats: () => ReadonlyArray<TokenCacheStats> = () => [];

  readonly tokenCache = new Counter({
    name: 'authz_token_cache_total',
    help: 'Verified-token cache lookups, by result (hit|miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => {
      let hits = 0;
      let misses = 0;
      for (const stats of this.cacheStats()) {
        hits += stats.hits;
        misses += stats.misses;
      }
      this.tokenCache.reset();
      this.tokenCache.inc({ result: 'hit' }, hits);
      this.tokenCache.inc({ result: 'miss' }, misses);
    },
  });

  readonly tokenCacheEntries = new Gauge({
    name: 'authz_token_cache_entries',
    help: 'Verified tokens held, per issuer (the bound tokenCache.maxEntries applies to each).',
    labelNames: ['issuer'] as const,
    registers: [this.registry],
    collect: () => {
      this.tokenCacheEntries.reset();
      for (const { issuerName, size } of this.cacheStats()) this.tokenCacheEntries.labels(issuerName).set(size);
    },
  });

  trackTokenCache(stats: () => ReadonlyArray<TokenCacheStats>): void {
    this.cacheStats = stats;
  }

  readonly keySetRevision = new Gauge({
    name: 'authz_key_set_revision',
    help: 'Revision of the key set in force, per issuer or trust domain.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });

  readonly keySetRejections = new Counter({
    name: 'authz_key_set_rejections_total',
    help: 'Key set updates refused (the previous set stays in force), by reason code.',
    labelNames: ['name', 'code'] as const,
    registers: [this.registry],
  });

  /** Policy name and revision in force, per service (see `setPolicy`). */
  private readonly policies = new Map<string, { readonly name: string; readonly revision: string }>();

  readonly policyInfo = new Gauge({
    name: 'authz_policy_info',
    help: 'The policy revision in force for each protected service (value 1).',
    labelNames: ['service', 'name', 'revision'] as const,
    registers: [this.registry],
    collect: () => {
      this.policyInfo.reset();
      for (const [service, { name, revision }] of this.policies) this.policyInfo.labels(service, name, revision).set(1);
    },
  });

  readonly policyRejections = new Counter({
    name: 'authz_policy_rejections_total',
    help: 'Policy updates refused (the previous policy stays in force), per protected service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly shadowPolicyRejections = new Counter({
    name: 'authz_shadow_policy_rejections_total',
    help: 'Shadow policy files refused (the previous shadow stays), per protected service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  /** Read at scrape time from each service's shadow table (see `trackShadows`): nothing is counted per Check. */
  private shadows: ReadonlyArray<{ readonly name: string; readonly shadow: Pick<ShadowPolicy, 'outcomes' | 'conditionErrorCount'> }> = [];

  readonly shadowChecks = new Counter({
    name: 'authz_shadow_checks_total',
    help: 'Checks the shadow policy was evaluated for since its revision loaded, by protected service, enforced and shadow outcome (allow|deny; shadow also error).',
    labelNames: ['service', 'enforced', 'shadow'] as const,
    registers: [this.registry],
    collect: () => {
      this.shadowChecks.reset();
      for (const { name, shadow } of this.shadows)
        for (const o of shadow.outcomes()) this.shadowChecks.inc({ service: name, enforced: o.enforced, shadow: o.shadow }, o.count);
    },
  });

  readonly shadowConditionErrors: Gauge = new Gauge({
    name: 'authz_shadow_condition_errors',
    help: 'Shadow policy conditions that failed at run time since its revision loaded (the rule failed closed in the shadow), per protected service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
    collect: () => {
      this.shadowConditionErrors.reset();
      for (const { name, shadow } of this.shadows) this.shadowConditionErrors.labels(name).set(shadow.conditionErrorCount);
    },
  });

  /** The services whose shadow tables /metrics reads. */
  trackShadows(services: ReadonlyArray<{ readonly name: string; readonly shadow: Pick<ShadowPolicy, 'outcomes' | 'conditionErrorCount'> }>): void {
    this.shadows = services;
  }

  readonly controlDocuments = new Counter({
    name: 'authz_control_documents_total',
    help: 'Control-plane documents received, by KV key and result (applied|rejected|duplicate|deleted).',
    labelNames: ['key', 'result'] as const,
    registers: [this.registry],
  });

  readonly controlRejections = new Counter({
    name: 'authz_control_rejections_total',
    help: 'Control-plane documents refused or not cached, by KV key and reason code.',
    labelNames: ['key', 'code'] as const,
    registers: [this.registry],
  });

  private freshness: () => Readonly<Record<string, number>> = () => ({});

  readonly controlUnconfirmedSeconds = new Gauge({
    name: 'authz_control_unconfirmed_seconds',
    help: "Seconds since each followed KV key was last confirmed to be at the bucket's newest revision (+Inf: never). Alert when it stays above a few seconds.",
    labelNames: ['key'] as const,
    registers: [this.registry],
    collect: () => {
      this.controlUnconfirmedSeconds.reset();
      for (const [key, age] of Object.entries(this.freshness())) this.controlUnconfirmedSeconds.labels(key).set(age);
    },
  });

  trackControlFreshness(ages: () => Readonly<Record<string, number>>): void {
    this.freshness = ages;
  }

  readonly controlStaleWatches = new Counter({
    name: 'authz_control_stale_watches_total',
    help: 'Watches found behind the bucket (their consumer gone, e.g. with a NATS node) and re-created; the newest document was applied from the check.',
    labelNames: ['key'] as const,
    registers: [this.registry],
  });

  /** Registered only by `trackNats`: a sidecar fed by files has no connection to report (a 0 would page someone). */
  readonly natsConnected = new Gauge({
    name: 'authz_nats_connected',
    help: '1 while connected to NATS.',
    registers: [],
  });

  /** Exports authz_nats_connected (0 until the first connection): call when NATS is configured. */
  trackNats(): void {
    if (this.registry.getSingleMetric('authz_nats_connected') === undefined) this.registry.registerMetric(this.natsConnected);
  }

  readonly decisionsDropped = new Counter({
    name: 'authz_decision_log_dropped_total',
    help: 'Decision records dropped because the bounded buffer was full (NATS slow or gone).',
    registers: [this.registry],
  });

  readonly failOpen = new Counter({
    name: 'authz_fail_open_total',
    help: 'Requests allowed by an opt-in fail-open switch, by scope (issuer|policy), the issuer or policy name, and the failure (keys_unavailable|internal_error).',
    labelNames: ['scope', 'name', 'cause'] as const,
    registers: [this.registry],
  });

  /** Read at scrape time from the gRPC listener (see `trackGrpcConnections`). */
  private grpcConnectionCount: () => number = () => 0;

  readonly grpcConnections = new Gauge({
    name: 'authz_grpc_connections',
    help: 'Open gRPC connections, in handshake or established (bounded by grpc.maxConnections).',
    registers: [this.registry],
    collect: () => {
      this.grpcConnections.set(this.grpcConnectionCount());
    },
  });

  readonly grpcConnectionsRefused = new Counter({
    name: 'authz_grpc_connections_refused_total',
    help: 'gRPC connections closed before serving, by reason (handshake_timeout|bad_preface|connection_limit).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  trackGrpcConnections(count: () => number): void {
    this.grpcConnectionCount = count;
  }

  /** Read at scrape time from the HTTP listener's own counts (see `trackHttpRequests`): a labelled inc() per request would hash its labels. */
  private httpRequestCounts: () => Readonly<Record<string, number>> = () => ({});

  /** Registered only by `trackHttpRequests`: a sidecar without HTTP mode has no such requests to report. */
  readonly httpRequests = new Counter({
    name: 'authz_http_requests_total',
    help: 'Auth requests on the HTTP listener, by convention (envoy|nginx|forward_auth; unknown: not an endpoint, answered 404). Their decisions are in authz_checks_total with the gRPC ones.',
    labelNames: ['convention'] as const,
    registers: [],
    collect: () => {
      this.httpRequests.reset();
      for (const [convention, count] of Object.entries(this.httpRequestCounts())) this.httpRequests.inc({ convention }, count);
    },
  });

  /** Exports authz_http_requests_total from the listener's counts: call when HTTP mode is on. */
  trackHttpRequests(counts: () => Readonly<Record<string, number>>): void {
    this.httpRequestCounts = counts;
    if (this.registry.getSingleMetric('authz_http_requests_total') === undefined) this.registry.registerMetric(this.httpRequests);
  }

  readonly ready = new Gauge({
    name: 'authz_ready',
    help: '1 when keys and policy are loaded and Checks are served.',
    registers: [this.registry],
  });

  /** `eventLoopResolutionMs`: how often the event-loop delay monitor samples (admin.eventLoopResolutionMs). */
  constructor(options: { eventLoopResolutionMs?: number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'authz_', eventLoopMonitoringPrecision: options.eventLoopResolutionMs ?? 100 });
  }

  countCheck(service: string, decision: 'allow' | 'deny', reason: string): void {
    this.checks.inc(service, decision, reason);
  }

  /** The policy now in force for `service`; replaces its previous revision's series. */
  setPolicy(service: string, name: string, revision: string): void {
    this.policies.set(service, { name, revision });
  }

  /** The /metrics body: the registry's metrics, then the Check-duration histogram. */
  async exposition(): Promise<string> {
    return (await this.registry.metrics()) + this.checkDuration.exposition();
  }

  /** The /metrics content type (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }
}
