import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { validateEnvoyConfig, validateEnvoyYaml } from '../../testkit/envoy-proto-validate.js';
import { ROOT } from '../../testkit/paths.js';

/**
 * deploy/envoy/envoy.yaml checked against Envoy's own v3 protos (no Envoy binary runs in
 * CI), its security-relevant settings pinned, and negative controls proving the validator
 * rejects what Envoy would reject.
 */
const TEXT = readFileSync(`${ROOT}deploy/envoy/envoy.yaml`, 'utf8');
const EXT_AUTHZ = 'envoy.filters.http.ext_authz';
const AUTHZ_ANY = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const H2_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HCM_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const AUTHZ_PATH = `${HCM_PATH}.http_filters[0].typed_config`;

type Doc = any;
/** A fresh, mutable copy for each test. */
const load = (): Doc => parse(TEXT);
const hcm = (doc: Doc) => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extAuthz = (doc: Doc) => hcm(doc).http_filters.find((filter: Doc) => filter.name === EXT_AUTHZ).typed_config;
const routes = (doc: Doc): Doc[] => hcm(doc).route_config.virtual_hosts[0].routes;
const cluster = (doc: Doc, name: string) => doc.static_resources.clusters.find((c: Doc) => c.name === name);

function assertRejected(doc: Doc, expected: string | RegExp): void {
  const errors = validateEnvoyConfig(doc);
  const found = errors.some((line) => (typeof expected === 'string' ? line === expected : expected.test(line)));
  assert.ok(found, `expected an error ${expected}, got:\n${errors.join('\n') || '(none)'}`);
}

describe('deploy/envoy/envoy.yaml', () => {
  test('validates against Envoy v3 protos with zero errors', () => {
    assert.deepEqual(validateEnvoyYaml(TEXT), []);
  });

  test('admin and listener addresses', () => {
    const doc = load();
    assert.deepEqual(doc.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
    assert.deepEqual(doc.static_resources.listeners[0].address.socket_address, { address: '0.0.0.0', port_value: 8080 });
  });

  test('http_connection_manager normalises paths the way the sidecar does', () => {
    const manager = hcm(load());
    assert.equal(manager.codec_type, 'AUTO');
    assert.equal(manager.use_remote_address, true);
    assert.equal(manager.normalize_path, true);
    assert.equal(manager.merge_slashes, true);
    assert.equal(manager.path_with_escaped_slashes_action, 'REJECT_REQUEST');
    assert.equal(manager.generate_request_id, true);
    assert.deepEqual(
      manager.http_filters.map((filter: Doc) => filter.name),
      [EXT_AUTHZ, 'envoy.filters.http.router'],
    );
  });

  test('ext_authz fails closed over gRPC v3 to the sidecar cluster', () => {
    const authz = extAuthz(load());
    assert.equal(authz['@type'], AUTHZ_ANY);
    assert.equal(authz.grpc_service.envoy_grpc.cluster_name, 'authz_sidecar');
    assert.equal(authz.grpc_service.timeout, '0.25s');
    assert.equal(authz.transport_api_version, 'V3');
    assert.equal(authz.failure_mode_allow, false);
    assert.deepEqual(authz.status_on_error, { code: 'ServiceUnavailable' });
    assert.equal(authz.include_peer_certificate, undefined, 'the sidecar never reads the PEM');
    assert.equal(authz.encode_raw_headers, true);
    assert.equal(authz.clear_route_cache, true);
    assert.equal(authz.with_request_body, undefined, 'the body is off by default');
  });

  test('the authz cluster speaks HTTP/2 and is health-checked for the Authorization service', () => {
    const authz = cluster(load(), 'authz_sidecar');
    const endpoint = authz.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.deepEqual(endpoint, { address: '127.0.0.1', port_value: 9191 });
    assert.equal(authz.type, 'STATIC');
    assert.equal(authz.connect_timeout, '0.25s');
    assert.deepEqual(authz.typed_extension_protocol_options[H2_OPTIONS].explicit_http_config, { http2_protocol_options: {} });
    const [check] = authz.health_checks;
    assert.deepEqual(check.grpc_health_check, { service_name: 'envoy.service.auth.v3.Authorization' });
    assert.equal(check.interval, '5s');
    assert.equal(check.timeout, '1s');
    assert.ok(check.unhealthy_threshold >= 1 && check.healthy_threshold >= 1);
    assert.deepEqual(authz.common_lb_config.healthy_panic_threshold, { value: 0 });
    assert.ok(authz.circuit_breakers.thresholds[0].max_requests > 0);
  });

  test('routes: /healthz skips authz, /api/ sends context_extensions, / is the default', () => {
    const [health, api, fallback] = routes(load());
    assert.deepEqual(health.match, { path: '/healthz' });
    assert.equal(health.typed_per_filter_config[EXT_AUTHZ].disabled, true);
    assert.deepEqual(api.match, { prefix: '/api/' });
    assert.deepEqual(api.typed_per_filter_config[EXT_AUTHZ].check_settings.context_extensions, { zone: 'internal', route: 'api' });
    assert.deepEqual(fallback.match, { prefix: '/' });
    assert.equal(fallback.typed_per_filter_config, undefined, 'authz applies to everything else');
  });

  test('the access log reads the sidecar dynamic metadata from the ext_authz namespace', () => {
    const format = hcm(load()).access_log[0].typed_config.log_format.json_format;
    assert.equal(format.authz_decision_id, '%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision_id)%');
    for (const key of ['decision', 'reason', 'policy', 'policy_revision', 'rule']) {
      assert.equal(format[`authz_${key}`], `%DYNAMIC_METADATA(envoy.filters.http.ext_authz:${key})%`);
    }
  });

  test('the mTLS variant in the README is a valid listener change', () => {
    const doc = load();
    doc.static_resources.listeners[0].filter_chains[0].transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        require_client_certificate: true,
        common_tls_context: {
          tls_certificates: [{ certificate_chain: { filename: '/etc/envoy/tls/tls.crt' }, private_key: { filename: '/etc/envoy/tls/tls.key' } }],
          validation_context: { trusted_ca: { filename: '/etc/envoy/tls/ca.crt' } },
        },
      },
    };
    assert.deepEqual(validateEnvoyConfig(doc), []);
  });
});

describe('envoy-proto-validate is strict', () => {
  test('an unknown field deep inside the ext_authz typed_config is named by path', () => {
    const doc = load();
    extAuthz(doc).grpc_service.envoy_grpc.cluster_nam = 'authz_sidecar';
    assertRejected(doc, `${AUTHZ_PATH}.grpc_service.envoy_grpc.cluster_nam: unknown field`);
  });

  test('an unknown field inside a map of Any is named by path', () => {
    const doc = load();
    const options = cluster(doc, 'authz_sidecar').typed_extension_protocol_options[H2_OPTIONS].explicit_http_config;
    options.http2_protocol_option = options.http2_protocol_options;
    delete options.http2_protocol_options;
    assertRejected(
      doc,
      `static_resources.clusters[1].typed_extension_protocol_options["${H2_OPTIONS}"].explicit_http_config.http2_protocol_option: unknown field`,
    );
  });

  test('an @type that does not resolve is rejected', () => {
    const doc = load();
    extAuthz(doc)['@type'] = `${AUTHZ_ANY}z`;
    assertRejected(doc, new RegExp(`^${escape(AUTHZ_PATH)}\\.@type: "[^"]+ExtAuthzz" is not a message type`));
  });

  test("the router's @type on ext_authz fields is rejected field by field", () => {
    const doc = load();
    extAuthz(doc)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
    assertRejected(doc, `${AUTHZ_PATH}.grpc_service: unknown field`);
    assertRejected(doc, `${AUTHZ_PATH}.failure_mode_allow: unknown field`);
  });

  test('a Duration given as a number is rejected', () => {
    const doc = load();
    extAuthz(doc).grpc_service.timeout = 5;
    assertRejected(doc, `${AUTHZ_PATH}.grpc_service.timeout: expected a duration string like "1.5s", got number 5`);
  });

  test('an unknown enum name is rejected', () => {
    const doc = load();
    extAuthz(doc).transport_api_version = 'V4';
    assertRejected(doc, new RegExp(`^${escape(AUTHZ_PATH)}\\.transport_api_version: string "V4" is not a value of envoy\\.config\\.core\\.v3\\.ApiVersion`));
    hcm(doc).codec_type = 'auto';
    assertRejected(doc, new RegExp(`^${escape(HCM_PATH)}\\.codec_type: string "auto" is not a value`));
  });

  test('wrong scalar, list and map shapes are rejected', () => {
    const doc = load();
    extAuthz(doc).failure_mode_allow = 'false';
    hcm(doc).route_config.virtual_hosts[0].domains = '*';
    routes(doc)[1].typed_per_filter_config[EXT_AUTHZ].check_settings.context_extensions = ['zone'];
    cluster(doc, 'app').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = -1;
    assertRejected(doc, `${AUTHZ_PATH}.failure_mode_allow: expected bool, got string "false"`);
    assertRejected(doc, `${HCM_PATH}.route_config.virtual_hosts[0].domains: expected a list, got string "*"`);
    assertRejected(doc, /routes\[1\]\.typed_per_filter_config\["envoy\.filters\.http\.ext_authz"\]\.check_settings\.context_extensions: expected a map/);
    assertRejected(doc, /clusters\[0\]\..*\.port_value: -1 is out of range for uint32$/);
  });

  test('oneofs, required fields and null are enforced', () => {
    const doc = load();
    extAuthz(doc).http_service = { server_uri: { uri: 'http://127.0.0.1:9191', cluster: 'authz_sidecar', timeout: '0.25s' } };
    const check = cluster(doc, 'authz_sidecar').health_checks[0];
    delete check.interval;
    cluster(doc, 'authz_sidecar').typed_extension_protocol_options[H2_OPTIONS].explicit_http_config.http2_protocol_options = null;
    assertRejected(doc, `${AUTHZ_PATH}: oneof "services": only one of grpc_service, http_service may be set`);
    assertRejected(doc, 'static_resources.clusters[1].health_checks[0].interval: required field missing');
    assertRejected(doc, /http2_protocol_options: null leaves the field unset/);
  });

  test('camelCase JSON names are accepted, but not alongside the snake_case name', () => {
    const doc = load();
    const authz = extAuthz(doc);
    authz.encodeRawHeaders = authz.encode_raw_headers;
    delete authz.encode_raw_headers;
    assert.deepEqual(validateEnvoyConfig(doc), []);
    authz.encode_raw_headers = true;
    assertRejected(doc, /\.encode_raw_headers: same field as "encodeRawHeaders"$/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
