/**
 * The shipped gateway example (deploy/gateway): Envoy's config checked against Envoy's own
 * protos, its virtual hosts naming exactly the services the sidecar config holds, and the
 * real sidecar on the shipped config deciding Checks shaped as that Envoy sends them (the
 * virtual host's and the route's context extensions merged).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadConfig, protectedServices } from '../../src/config/index.js';
import { validateEnvoyYaml } from '../../testkit/envoy-proto-validate.js';
import { EnvoyClient, denyBody, envoyRequest, httpStatus } from '../../testkit/envoy-client.js';
import { SIDECAR_NODE_FLAGS } from '../../testkit/launcher.js';
import { ROOT, SIDECAR_BIN } from '../../testkit/paths.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { mint } from '../../testkit/tokens.js';

const DIR = `${ROOT}deploy/gateway`;
const ENVOY = readFileSync(`${DIR}/envoy.yaml`, 'utf8');
const CONFIG = `${DIR}/config.yaml`;
const EXT_AUTHZ = 'envoy.filters.http.ext_authz';

type Doc = any;
const virtualHosts = (doc: Doc): Doc[] => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts;
/** The context extensions a route's Checks carry: the virtual host's, then the route's over them (Envoy's merge). */
const extensionsOf = (host: Doc, route: Doc): Record<string, string> => ({
  ...host.typed_per_filter_config?.[EXT_AUTHZ]?.check_settings?.context_extensions,
  ...route.typed_per_filter_config?.[EXT_AUTHZ]?.check_settings?.context_extensions,
});

describe('deploy/gateway', () => {
  test("envoy.yaml validates against Envoy's v3 protos", () => {
    assert.deepEqual(validateEnvoyYaml(ENVOY), []);
  });

  test('every virtual host names a service of config.yaml, each service has one, and other hosts get no Check', () => {
    const hosts = virtualHosts(parse(ENVOY));
    const named = hosts.filter((h) => h.typed_per_filter_config?.[EXT_AUTHZ]?.check_settings).map((h) => extensionsOf(h, {}).service);
    const services = protectedServices(loadConfig(CONFIG)).map((s) => s.name);
    assert.deepEqual(named.sort(), [...services].sort());
    const catchAll = hosts.find((h) => h.domains.includes('*'));
    assert.equal(catchAll.typed_per_filter_config[EXT_AUTHZ].disabled, true);
    for (const host of hosts)
      for (const route of host.routes) if (host !== catchAll) assert.ok(extensionsOf(host, route).service, `${host.name} ${JSON.stringify(route.match)}`);
  });

  test('the sidecar accepts config.yaml and both policies (--check-config)', () => {
    const run = spawnSync(process.execPath, [...SIDECAR_NODE_FLAGS, SIDECAR_BIN, '--check-config', '--config', CONFIG], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /config\.yaml: ok/);
  });

  describe('the sidecar on config.yaml, asked as envoy.yaml asks', () => {
    let sidecar: SidecarProcess;
    let client: EnvoyClient;
    before(async () => {
      sidecar = await startSidecar(CONFIG);
      client = new EnvoyClient(sidecar.grpcAddress);
    });
    after(async () => {
      client?.close();
      await sidecar?.stop();
    });

    test("each host's requests are decided by its service's policy", async () => {
      const hosts = virtualHosts(parse(ENVOY));
      const extensions = (name: string) =>
        extensionsOf(
          hosts.find((h) => h.name === name),
          hosts.find((h) => h.name === name).routes[0],
        );
      assert.deepEqual(extensions('billing'), { service: 'billing', route: 'api' });
      const ask = async (host: string, path: string, scope: string) => {
        const token = await mint({ scope, aud: host === 'orders' ? 'orders' : 'billing' });
        const result = await client.check(
          envoyRequest({ host: `${host}.example.com`, path, headers: { authorization: `Bearer ${token}` }, contextExtensions: extensions(host) }),
        );
        return result.status?.code === 0 ? 'allow' : `${httpStatus(result)} ${denyBody(result).reason}`;
      };
      assert.equal(await ask('orders', '/api/orders/42', 'orders:read'), 'allow');
      assert.equal(await ask('orders', '/api/invoices/42', 'invoices:read'), '403 default_deny');
      assert.equal(await ask('billing', '/api/invoices/42', 'invoices:read'), 'allow');
      assert.equal(await ask('billing', '/api/invoices/42', 'orders:read'), '403 missing_scope');
      assert.equal(await ask('billing', '/api/orders/42', 'orders:read'), '403 default_deny');
    });
  });
});
