#!/usr/bin/env node
import { dirname, isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { readConfig, DocumentError, protectedServices, serviceSelection, type Config, type ConfigDocument, type KeySourceConfig } from './config/index.js';
import { apiKeySetName } from './config/index.js';
import { packageVersion, readFailure, type FieldPath } from './shared/index.js';
import {
  ApiKeyStore,
  createIntrospectionClient,
  KeySetError,
  KeyStore,
  loadClientAuth,
  RevocationStore,
  type ApiKeyStoreEvent,
  type IntrospectionClient,
  type KeyStoreEvent,
} from './keys/index.js';
import { createAuthenticator, SERVICE_ISSUER_NAME, type IntrospectionEvent } from './tokens/index.js';
import { buildRequestView } from './request/index.js';
import { ServiceTable, startLocalPolicy, type PolicyEvent, type PolicyReport, type ProtectedService } from './policy/index.js';
import { loadSigners, type SignerSet } from './control/index.js';
// control/start.ts loads the NATS client: only its types here, the code with await import below.
import type { ControlRun, ControlRunEvent } from './control/start.js';
import { createCheckHandler, IdentityHeaders } from './grpc/index.js';
import { HealthService, routeGrpcJsLogs, startGrpcServer } from './grpc/transport.js';
import { startHttpServer, type HttpServer } from './http/index.js';
import { createLogger, Metrics, startAdminServer, synchronousStdout, type Logger, type Readiness } from './telemetry/index.js';
import { collectWhenIdle, describeRuntime, exposedGc, memoryReducingCollection, runtimeInEffect } from './runtime/index.js';

const USAGE = `usage: authz-sidecar --config FILE   (or AUTHZ_CONFIG=FILE)

Serves Envoy's ext_authz (envoy.service.auth.v3.Authorization/Check) and
grpc.health.v1 on grpc.address, /healthz /readyz /metrics on admin.address, and
with an http section the same decisions to nginx, Traefik, Caddy and Envoy's
http_service on http.address (docs/http-mode.md).

  --config FILE     sidecar config (YAML or JSON)
  --check-config    validate the config, key sets and policy, print the runtime
                    options and node flags in effect, then exit
  --version         print the version and exit
  -h, --help        this text

Environment: AUTHZ_CONFIG, AUTHZ_GRPC_ADDRESS, AUTHZ_ADMIN_ADDRESS and AUTHZ_HTTP_ADDRESS
(override the config's addresses; port 0 picks a free port, logged in the "serving" line).

Run it with the node flags of the image's ENTRYPOINT, as npm start does (the fixed new
space and heap growth are V8 flags; runtime.idleCollection needs --expose-gc).`;

/** Exit codes: 0 clean stop, 1 runtime failure, 2 usage or invalid config/policy/keys. */
async function main(argv: string[]): Promise<number> {
  let args;
  try {
    const options = {
      config: { type: 'string' },
      'check-config': { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    } as const;
    args = parseArgs({ args: argv, options }).values;
  } catch (error) {
    process.stderr.write(`authz-sidecar: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`authz-sidecar ${packageVersion()}\n`);
    return 0;
  }
  const configPath = args.config ?? process.env.AUTHZ_CONFIG;
  if (!configPath) {
    process.stderr.write(`authz-sidecar: --config FILE or AUTHZ_CONFIG is required\n${USAGE}\n`);
    return 2;
  }

  let source: ConfigDocument;
  let config: Config;
  try {
    source = readConfig(configPath);
    config = withEnvironment(source.config, source.file);
  } catch (error) {
    return startupFailure(error);
  }
  // --check-config prints its verdict on stdout after the load's log lines: those must be
  // written synchronously, or pino's asynchronous writes can land after the verdict.
  const log = createLogger(config.log.level, args['check-config'] ? synchronousStdout() : undefined, {
    redactHeaders: config.apiKeys && [config.apiKeys.header],
  });
  // grpc-js writes its own lines to stderr by default; stderr is for the one start-up error line.
  routeGrpcJsLogs({
    error: (text) => log.error({ grpc_js: text }, 'grpc-js error'),
    info: (text) => log.info({ grpc_js: text }, 'grpc-js'),
    debug: (text) => log.debug({ grpc_js: text }, 'grpc-js'),
  });
  const gc = exposedGc();
  const runtime = runtimeInEffect(config.runtime, { execArgv: process.execArgv, gc });
  const metrics = new Metrics({ eventLoopResolutionMs: config.admin.eventLoopResolutionMs });
  // Readiness can change whenever a key set or policy lands; set once the servers exist.
  let refreshReadiness = (): void => {};
  const allKeyStores = (): KeyStore[] => [...keyStores.values(), ...(serviceKeys ? [serviceKeys] : [])];
  const apiKeysName = apiKeySetName(config);
  const apiKeys = config.apiKeys && new ApiKeyStore({ name: apiKeysName!, source: config.apiKeys.keys, pollIntervalMs: config.watch.intervalMs });
  const stopKeyStores = () => [...allKeyStores(), ...(apiKeys ? [apiKeys] : [])].forEach((store) => store.stop());

  const keyStores = new Map<string, KeyStore>();
  let serviceKeys: KeyStore | undefined;
  const serviceConfigs = protectedServices(config);
  const services = new ServiceTable(serviceConfigs, serviceSelection(config));
  const revocations = new RevocationStore();
  const introspectionClients = new Map<string, IntrospectionClient>();
  /** The pollers of local policy and shadow files. */
  const policyFiles: Array<{ stop(): void }> = [];
  const stopPolicyFiles = () => policyFiles.splice(0).forEach((poller) => poller.stop());
  let signers: SignerSet | undefined;
  try {
    if (config.nats) signers = await loadSignerFiles(source, config.nats.signers);
    // Each store with the config field naming its file, so a file that cannot be used at start is reported on that field.
    const keyFields = new Map<KeyStore, FieldPath>();
    config.issuers.forEach((issuer, i) => {
      if (issuer.keys === undefined) return;
      const { name, algorithms } = issuer;
      const store = new KeyStore({ name, source: issuer.keys, algorithms, pollIntervalMs: config.watch.intervalMs, issuer: issuer.issuer });
      keyStores.set(issuer.name, store);
      keyFields.set(store, keyFileField(['issuers', i, 'keys'], issuer.keys));
    });
    await loadIntrospectionClients(source, config, introspectionClients);
    if (config.serviceTokens) {
      const st = config.serviceTokens;
      serviceKeys = new KeyStore({
        name: st.trustDomain,
        source: st.keys,
        algorithms: st.algorithms,
        pollIntervalMs: config.watch.intervalMs,
        issuer: st.issuer,
      });
      keyFields.set(serviceKeys, keyFileField(['serviceTokens', 'keys'], st.keys));
    }
    for (const store of allKeyStores())
      store.onEvent((event) => {
        onKeyEvent(log, metrics, event);
        refreshReadiness();
      });
    apiKeys?.onEvent((event) => {
      onApiKeyEvent(log, metrics, event);
      refreshReadiness();
    });
    await Promise.all([
      ...allKeyStores().map((store) =>
        store.start().catch((error: unknown) => {
          throw fileFieldError(source, keyFields.get(store)!, error);
        }),
      ),
      apiKeys?.start().catch((error: unknown) => {
        throw fileFieldError(source, ['apiKeys', 'keys', 'file'], error);
      }),
    ]);
    for (const { name, policy, at } of serviceConfigs) {
      const service = services.get(name)!;
      service.policies.onChange((compiled) => metrics.setPolicy(name, compiled.name, compiled.revision));
      /** A local policy file into `store`; a file that cannot be used at start is reported on its config field. */
      const policyFile = (
        field: 'file' | 'shadowFile',
        file: string,
        options: Pick<Parameters<typeof startLocalPolicy>[0], 'store' | 'onEvent' | 'onConditionError'>,
      ) => {
        const written = String(source.written([...at, field]));
        return startLocalPolicy({
          file,
          // Named from where the sidecar was started: the config's folder as given, then the path as written.
          shownAs: isAbsolute(written) ? written : join(dirname(configPath), written),
          service: name,
          intervalMs: config.watch.intervalMs,
          ...options,
        }).catch((error: unknown) => {
          throw readFailureOf(error) === undefined ? error : fileFieldError(source, [...at, field], error);
        });
      };
      if (policy.file !== undefined) {
        const poller = await policyFile('file', policy.file, {
          store: service.policies,
          onEvent: (event) => {
            onPolicyEvent(log, metrics, name, event);
            refreshReadiness();
          },
        });
        policyFiles.push(poller);
      }
      if (policy.shadowFile !== undefined) {
        const poller = await policyFile('shadowFile', policy.shadowFile, {
          store: service.shadow,
          onConditionError: service.shadow.onConditionError,
          onEvent: (event) => onPolicyEvent(log, metrics, name, event, 'shadow'),
        });
        policyFiles.push(poller);
      }
    }
  } catch (error) {
    stopKeyStores();
    stopPolicyFiles();
    return startupFailure(error);
  }
  if (args['check-config']) {
    stopKeyStores();
    stopPolicyFiles();
    process.stdout.write(`${describeRuntime(runtime)}\n${configPath}: ok\n`);
    return 0;
  }

  const authenticator = createAuthenticator({
    issuers: config.issuers,
    serviceTokens: config.serviceTokens,
    service: config.service,
    keyStores: { issuers: keyStores, serviceTokens: serviceKeys },
    cacheMaxEntries: config.tokenCache.maxEntries,
    revocations,
    apiKeys: config.apiKeys && apiKeys && { config: config.apiKeys, name: apiKeysName!, keys: apiKeys },
    introspection: { clients: introspectionClients, onEvent: (event) => onIntrospectionEvent(log, event) },
  });
  metrics.trackTokenCache(() => authenticator.cacheStats());

  let draining = false;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (draining) reasons.push('draining');
    // One service: "policy not loaded", as always; a gateway names the services still without one.
    for (const { name, policies } of services.all)
      if (policies.current() === null) reasons.push(services.all.length === 1 && name === config.service ? 'policy not loaded' : `policy not loaded: ${name}`);
    for (const store of allKeyStores())
      if (!store.ready) reasons.push(`keys not loaded: ${store.name}${store.origin === 'discovery' && store.problem ? ` (${store.problem})` : ''}`);
    if (apiKeys?.ready === false) reasons.push(`API keys not loaded: ${apiKeys.name}`);
    const unconfirmed = control?.freshness().unconfirmed;
    return { ready: reasons.length === 0, reasons, ...(unconfirmed && { control: { unconfirmed } }) };
  };

  let control: ControlRun | undefined;
  if (config.nats && signers) {
    const nats = config.nats;
    metrics.trackNats();
    // Loaded only when configured: the NATS client is a fifth of start-up's module loading.
    const { startControl } = await import('./control/start.js');
    control = await startControl({
      config: { ...config, nats },
      stores: {
        services: services.all,
        issuerKeys: new Map(config.issuers.filter((i) => i.keys?.nats).map((i) => [i.name, keyStores.get(i.name)!])),
        trustDomainKeys: config.serviceTokens?.keys.nats ? serviceKeys : undefined,
        apiKeys: config.apiKeys?.keys.nats ? apiKeys : undefined,
        revocations,
      },
      signers,
      ready: () => readiness().ready,
      onEvent: (event) => {
        onControlEvent(log, metrics, event);
        refreshReadiness();
      },
      onDecisionDrop: (count) => metrics.decisionsDropped.inc(count),
      policyReport,
    });
    const run = control;
    metrics.trackControlFreshness(() => run.freshness().ageSeconds);
  }

  const health = new HealthService();
  const limits = config.request;
  const check = createCheckHandler({
    service: config.service,
    buildView: (request) => buildRequestView(request, limits),
    authenticate: (view) => authenticator.authenticate(view),
    services,
    identity: new IdentityHeaders(config.issuers),
    metrics,
    log,
    logAllows: config.log.allows,
    denyLinesPerSecond: config.log.denyLinesPerSecond,
    decisionLog: control?.decisionLog ?? null,
    failOpenIssuers: failOpenIssuers(config),
  });
  metrics.trackShadows(services.all);

  let grpc: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  let http: HttpServer | undefined;
  let admin;
  try {
    const { address, maxMessageBytes, handshakeTimeoutMs, maxConnections, maxConcurrentStreams } = config.grpc;
    grpc = await startGrpcServer({
      address,
      maxMessageBytes,
      transport: { handshakeTimeoutMs, maxConnections, maxConcurrentStreams },
      check,
      health,
      onConnectionRefused: (reason) => metrics.grpcConnectionsRefused.inc({ reason }),
    });
    const server = grpc;
    metrics.trackGrpcConnections(() => server.connections);
    if (config.http) {
      const { address, maxConnections, headersTimeoutMs, keepAliveTimeoutMs } = config.http;
      http = await startHttpServer({
        address,
        check,
        maxConnections,
        headersTimeoutMs,
        keepAliveTimeoutMs,
        maxHeaderBytes: config.request.maxHeaderBytes,
        maxHeaders: config.request.maxHeaders,
        onCheckError: (err: unknown) => log.error({ err }, 'http check failed'),
      }).catch((error: unknown) => {
        throw new ListenError('http', address, error);
      });
      const { requests } = http;
      metrics.trackHttpRequests(() => requests);
    }
    admin = await startAdminServer({ address: config.admin.address, metrics, readiness }).catch((error: unknown) => {
      throw new ListenError('admin', config.admin.address, error);
    });
  } catch (caught) {
    const error = caught instanceof ListenError ? caught : new ListenError('grpc', config.grpc.address, caught);
    const problem = listenProblem(source, error);
    log.fatal({ field: problem.field, address: error.address, code: errnoCode(error.cause) }, 'cannot listen');
    // Whatever started is let go, so the process ends at once (at most 2 s for the control plane to close).
    const released = (async () => {
      await grpc?.drain(0);
      await http?.drain(0);
      await control?.stop();
    })();
    authenticator.stop();
    stopKeyStores();
    stopPolicyFiles();
    await Promise.race([released.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    process.stderr.write(`authz-sidecar: ${problem.message}\n`);
    return 1;
  }
  if (runtime.idleCollection === 'missing-expose-gc')
    log.warn({ missing_flag: '--expose-gc' }, 'runtime.idleCollection is on but node was started without --expose-gc; running without idle collection');
  const idleCollection =
    runtime.idleCollection === 'on' && gc ? collectWhenIdle({ activity: () => metrics.checks.total(), collect: memoryReducingCollection(gc) }) : undefined;
  let wasReady: boolean | undefined;
  refreshReadiness = () => {
    const { ready, reasons } = readiness();
    health.set(ready);
    metrics.ready.set(ready ? 1 : 0);
    if (ready !== wasReady && wasReady !== undefined) log.info({ ready, reasons }, ready ? 'ready' : 'not ready');
    wasReady = ready;
    control?.statusChanged();
  };
  refreshReadiness();
  log.info(
    {
      grpc_port: grpc.port,
      admin_port: admin.port,
      ...(http && { http_port: http.port }),
      protected_service: config.gateway === undefined ? config.service : undefined,
      ...(config.gateway && { gateway: config.service, protected_services: services.all.map((s) => s.name), select_by: config.gateway.selectBy }),
      ready: wasReady,
      idle_collection: runtime.idleCollection,
      node_flags: runtime.nodeFlags,
    },
    'serving',
  );

  return new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      if (draining) return;
      draining = true;
      refreshReadiness();
      log.info({ signal }, 'draining');
      // Both listeners drain at once, within the same budget.
      const [outcome, httpOutcome] = await Promise.all([grpc.drain(config.shutdown.drainSeconds * 1000), http?.drain(config.shutdown.drainSeconds * 1000)]);
      await admin.close();
      await control?.stop();
      authenticator.stop();
      idleCollection?.stop();
      stopKeyStores();
      stopPolicyFiles();
      log.info({ outcome, ...(httpOutcome && { http_outcome: httpOutcome }) }, 'stopped');
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

/** Issuers that opted into fail-open, by the name their verifier reports ("service" for service tokens). */
function failOpenIssuers(config: Config): ReadonlySet<string> {
  const names = config.issuers.filter((i) => i.failOpen).map((i) => i.name);
  if (config.serviceTokens?.failOpen === true) names.push(SERVICE_ISSUER_NAME);
  return new Set(names);
}

function withEnvironment(config: Config, file: string): Config {
  const httpAddress = process.env.AUTHZ_HTTP_ADDRESS;
  // The variable moves a listener the config turns on; it does not turn HTTP mode on by itself.
  if (httpAddress && !config.http) throw new DocumentError(file, 'AUTHZ_HTTP_ADDRESS', 'is set but the config has no http section (HTTP mode is off)');
  return {
    ...config,
    grpc: { ...config.grpc, address: process.env.AUTHZ_GRPC_ADDRESS || config.grpc.address },
    admin: { ...config.admin, address: process.env.AUTHZ_ADMIN_ADDRESS || config.admin.address },
    ...(config.http && { http: { ...config.http, address: httpAddress || config.http.address } }),
  };
}

/** The config field of a key source that names a file read at start (`keys.file` or `keys.secretFile`). */
function keyFileField(at: FieldPath, keys: KeySourceConfig): FieldPath {
  return [...at, keys.secretFile !== undefined ? 'secretFile' : 'file'];
}

/**
 * The introspection clients of the issuers with `introspection`; their client credentials are
 * read now, and a file that cannot be used is reported on the field naming it.
 */
async function loadIntrospectionClients(source: ConfigDocument, config: Config, into: Map<string, IntrospectionClient>): Promise<void> {
  for (const [i, issuer] of config.issuers.entries()) {
    const introspection = issuer.introspection;
    if (introspection === undefined) continue;
    const field: FieldPath =
      introspection.clientSecretFile !== undefined
        ? ['issuers', i, 'introspection', 'clientSecretFile']
        : ['issuers', i, 'introspection', 'privateKeyJwt', 'keyFile'];
    const clientAuth = await loadClientAuth(introspection).catch((error: unknown) => {
      throw fileFieldError(source, field, error);
    });
    into.set(issuer.name, createIntrospectionClient({ issuer: issuer.issuer, config: introspection, clientAuth, algorithms: issuer.algorithms }));
  }
}

function onIntrospectionEvent(log: Logger, event: IntrospectionEvent): void {
  if (event.type === 'introspection-failed')
    log.warn({ issuer: event.issuerName, reason: event.message }, "introspection endpoint failing; the issuer's opaque tokens get keys_unavailable");
  else log.info({ issuer: event.issuerName }, 'introspection endpoint answering again');
}

/** The pinned control-plane keys; a refused file is reported on its `nats.signers[i]` entry. */
async function loadSignerFiles(source: ConfigDocument, files: readonly string[]): Promise<SignerSet> {
  try {
    return await loadSigners(files);
  } catch (error) {
    const index = error instanceof DocumentError ? files.indexOf(error.file) : -1;
    throw index < 0 ? error : fileFieldError(source, ['nats', 'signers', index], error);
  }
}

/** The read's error, when `error` says a file could not be read (a KeySetError or DocumentError caused by one). */
function readFailureOf(error: unknown): NodeJS.ErrnoException | undefined {
  if (!(error instanceof KeySetError || error instanceof DocumentError)) return undefined;
  return errnoCode(error.cause) === undefined ? undefined : (error.cause as NodeJS.ErrnoException);
}

function errnoCode(error: unknown): string | undefined {
  const { code, errno } = (error ?? {}) as NodeJS.ErrnoException;
  return typeof code === 'string' && typeof errno === 'number' ? code : undefined;
}

/**
 * A file the config names that cannot be used at start, as an error on the field naming it,
 * with the path as written there: `config.yaml:11:11: issuers[0].keys.file: cannot read
 * keys/idp.jwks.json: no such file`, or `…: keys/idp.jwks.json: JWKS has no keys`.
 */
function fileFieldError(source: ConfigDocument, field: FieldPath, error: unknown): unknown {
  const written = String(source.written(field));
  const failure = readFailureOf(error);
  if (failure !== undefined) return source.error(field, `cannot read ${written}: ${readFailure(failure)}`, error);
  if (error instanceof KeySetError) {
    // The store's first-load error wraps the key set's own, which says what is wrong with the file.
    const reason = error.cause instanceof KeySetError ? error.cause.message : error.message;
    return source.error(field, `${written}: ${reason}`, error);
  }
  if (error instanceof DocumentError) return source.error(field, `${written}: ${error.field ? `${error.shownField}: ` : ''}${error.reason}`, error);
  return error;
}

/** A server that could not listen on its address. */
class ListenError extends Error {
  constructor(
    readonly server: 'grpc' | 'admin' | 'http',
    readonly address: string,
    cause: unknown,
  ) {
    super(`${server}: cannot listen on ${address}`, { cause });
  }
}

const ADDRESS_VARIABLES = { grpc: 'AUTHZ_GRPC_ADDRESS', admin: 'AUTHZ_ADMIN_ADDRESS', http: 'AUTHZ_HTTP_ADDRESS' } as const;

/**
 * Why the sidecar cannot listen, on the field the address came from: `grpc.address` (with its
 * line when written in the file), or the environment variable that overrode it.
 */
function listenProblem(source: ConfigDocument, error: ListenError): DocumentError {
  const { server, address } = error;
  const code = errnoCode(error.cause);
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const reason =
    code === 'EADDRINUSE'
      ? `${address} is already in use`
      : code === 'EACCES'
        ? `${address}: permission denied${port > 0 && port < 1024 ? ' (a port below 1024 needs root or CAP_NET_BIND_SERVICE)' : ''}`
        : code === 'EADDRNOTAVAIL'
          ? `${address} is not an address of this host`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? `${address}: cannot resolve the host name`
            : `cannot listen on ${address}: ${code ?? (error.cause instanceof Error ? error.cause.message : String(error.cause))}`;
  const variable = ADDRESS_VARIABLES[server];
  return process.env[variable] ? new DocumentError(source.file, variable, reason, { cause: error }) : source.error([server, 'address'], reason, error);
}

/** Config, policy and key problems at start-up: one line on stderr, exit 2. */
function startupFailure(error: unknown): number {
  const message = error instanceof DocumentError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`authz-sidecar: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  return 2;
}

function onKeyEvent(log: Logger, metrics: Metrics, event: KeyStoreEvent): void {
  if (event.type === 'keys-loaded') {
    metrics.keySetRevision.labels(event.name).set(event.revision);
    log.info({ keys: event.name, origin: event.origin, revision: event.revision, kids: event.kids }, 'key set loaded');
  } else {
    metrics.keySetRejections.labels(event.name, event.code).inc();
    log.warn({ keys: event.name, origin: event.origin, code: event.code, reason: event.message }, 'key set rejected; keeping the previous set');
  }
}

/** API key sets are counted with the key sets, as `apikeys.<name>`; a line never carries a hash. */
function onApiKeyEvent(log: Logger, metrics: Metrics, event: ApiKeyStoreEvent): void {
  const name = `apikeys.${event.name}`;
  if (event.type === 'api-keys-loaded') {
    metrics.keySetRevision.labels(name).set(event.revision);
    log.info({ api_keys: event.name, origin: event.origin, revision: event.revision, entries: event.count }, 'API key set loaded');
  } else {
    metrics.keySetRejections.labels(name, event.code).inc();
    log.warn({ api_keys: event.name, origin: event.origin, code: event.code, reason: event.message }, 'API key set rejected; keeping the previous set');
  }
}

function onControlEvent(log: Logger, metrics: Metrics, event: ControlRunEvent): void {
  switch (event.type) {
    case 'document-applied':
      metrics.controlDocuments.labels(event.key, 'applied').inc();
      log.info({ kv_key: event.key, revision: event.revision, source: event.source }, 'control document applied');
      return;
    case 'document-rejected':
      metrics.controlDocuments.labels(event.key, 'rejected').inc();
      metrics.controlRejections.labels(event.key, event.code).inc();
      log.warn({ kv_key: event.key, code: event.code, reason: event.message, source: event.source }, 'control document rejected; keeping the last good state');
      return;
    case 'document-ignored':
      metrics.controlDocuments.labels(event.key, event.reason).inc();
      log[event.reason === 'deleted' ? 'warn' : 'debug']({ kv_key: event.key, reason: event.reason, revision: event.revision }, 'control document ignored');
      return;
    case 'cache-failed':
      metrics.controlRejections.labels(event.key, event.code).inc();
      log.warn({ kv_key: event.key, code: event.code, reason: event.message }, 'cannot write the last-good cache; serving on');
      return;
    case 'nats-connected':
    case 'nats-reconnected':
      metrics.natsConnected.set(1);
      log.info({ server: event.server }, event.type === 'nats-connected' ? 'nats connected' : 'nats reconnected');
      return;
    case 'nats-disconnected':
      metrics.natsConnected.set(0);
      log.warn({ server: event.server }, 'nats disconnected');
      return;
    case 'nats-reconnecting':
      log.debug({ server: event.server }, 'nats reconnecting');
      return;
    case 'nats-error':
      log.warn({ server: event.server, reason: event.message }, 'nats error');
      return;
    case 'kv-stale-watch':
      metrics.controlStaleWatches.labels(event.key).inc();
      log.warn(
        { kv_key: event.key, delivered: event.delivered, newest: event.newest },
        'watch behind the bucket; applying the newest revision and re-creating the watch',
      );
      return;
    default: {
      // KV feed events; `key` is renamed because the logger redacts any field called key.
      const { key, type, ...rest } = event as { key?: string; type: KvFeedEventType };
      const { level, message } = KV_FEED_LINES[type];
      log[level]({ event: type, ...rest, kv_key: key }, message);
    }
  }
}

type KvFeedEventType = Exclude<
  ControlRunEvent['type'],
  'document-applied' | 'document-rejected' | 'document-ignored' | 'cache-failed' | `nats-${string}` | 'kv-stale-watch'
>;

/** The log line of each KV feed event: a sentence like every other line; `event` keeps the code. */
const KV_FEED_LINES: Readonly<Record<KvFeedEventType, { level: 'info' | 'warn'; message: string }>> = {
  'kv-watching': { level: 'info', message: 'watching a control key' },
  'kv-rewatch': { level: 'info', message: 'control key watch ended; re-creating it' },
  'kv-watch-error': { level: 'warn', message: 'cannot watch a control key; retrying' },
  'kv-bucket-missing': { level: 'warn', message: 'control bucket not found; retrying until it exists' },
  'kv-bucket-reset': { level: 'warn', message: 'control bucket re-created or truncated; reading the key from its latest value' },
  'kv-apply-error': { level: 'warn', message: 'cannot apply a control entry' },
  'kv-check-failed': { level: 'warn', message: 'cannot read the newest revision of a control key; it cannot be confirmed current' },
  'kv-check-recovered': { level: 'info', message: 'newest revision of a control key readable again' },
};

/** What this sidecar answers on `<prefix>.report.<service>` (without its instance name, which the control plane adds). */
function policyReport({ name, usage, policies, shadow }: ProtectedService): Omit<PolicyReport, 'instance'> {
  const policy = policies.current();
  return {
    service: name,
    startedAt: usage.startedAt,
    at: new Date().toISOString(),
    policy: policy && { name: policy.name, revision: policy.revision },
    ...usage.report(policy),
    shadow: shadow.report(),
  };
}

function onPolicyEvent(log: Logger, metrics: Metrics, service: string, event: PolicyEvent, which: 'policy' | 'shadow' = 'policy'): void {
  if (event.type === 'policy-loaded') {
    log.info(
      { protected_service: service, policy: event.name, revision: event.revision, rules: event.rules },
      which === 'shadow' ? 'shadow policy loaded' : 'policy loaded',
    );
  } else {
    (which === 'shadow' ? metrics.shadowPolicyRejections : metrics.policyRejections).inc({ service });
    log.warn(
      { protected_service: service, code: event.code, reason: event.message },
      which === 'shadow' ? 'shadow policy rejected; keeping the previous shadow' : 'policy rejected; keeping the previous policy',
    );
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`authz-sidecar: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(1);
  },
);
