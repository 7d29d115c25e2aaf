#!/usr/bin/env node
/**
 * `npm run demo`: a narrated tour of authz-sidecar's control plane on one machine, using
 * only the built binaries (the sidecar and authzctl) and a real nats-server. Every step is
 * shown as the command a reader can copy; every outcome is checked. Exit 0 only when every
 * expectation held. Everything started is stopped, and the temp dir removed, on success,
 * failure and Ctrl-C alike. The story lives here; processes, narration and the request
 * table live in scripts/demo/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTable } from './demo/checks.mjs';
import { bold, command, commandLine, expect, fail, heading, note, output, say, shown, tally, green, red } from './demo/narrate.mjs';
import { ROOT, authzctl, builtBinariesPresent, killAllNow, startNatsServer, startSidecar, startedProcesses, stopAll } from './demo/processes.mjs';

const started = performance.now();
const IDP_KEY = 'deploy/examples/keys/idp-dev-1.private.jwk.json';
const SERVICES = ['orders', 'billing'];

const dir = mkdtempSync(join(tmpdir(), 'authz-demo-'));
const inDir = (path) => shown(`$DEMO/${path}`, join(dir, path));
const env = {};
const sidecars = {};
const tokens = {};
let interrupted = false;

class Interrupted extends Error {}

/** Runs authzctl, printing `$ authzctl …` first unless `quiet`; `as` prints `VAR=$(authzctl …)`. */
async function ctl(parts, { quiet = false, as, showOutput = !as } = {}) {
  if (interrupted) throw new Interrupted();
  const line = commandLine(parts);
  if (!quiet) command(as ? `${as}=$(authzctl ${line.display})` : `authzctl ${line.display}`);
  const result = await authzctl(line.argv, env);
  if (interrupted) throw new Interrupted();
  if (!quiet && showOutput) output([result.stdout, result.stderr].filter(Boolean).join('\n'));
  return result;
}

/** Like ctl, but a non-zero exit is a failed expectation that ends the demo. */
async function mustCtl(parts, options) {
  const result = await ctl(parts, options);
  if (result.code !== 0) throw new Error(`authzctl ${commandLine(parts).display} exited ${result.code}: ${result.stderr || result.stdout}`);
  return result;
}

async function readyz(sidecar) {
  const response = await fetch(`${sidecar.adminUrl}/readyz`);
  return { status: response.status, body: (await response.text()).trim() };
}

/** Polls `authzctl status --expect 2 --json` until both sidecars answer, converged, with `key` at `revision` or later. */
async function waitForStatus(key, revision, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { code, stdout } = await ctl(['status', '--expect', String(SERVICES.length), '--json', '--wait', '300ms'], { quiet: true });
    let rows = [];
    try {
      rows = JSON.parse(stdout || '{}').sidecars ?? [];
    } catch {
      // Not JSON: no sidecar answered yet.
    }
    const done = code === 0 && rows.every((r) => (r.keys.find((k) => k.key === key)?.applied ?? 0) >= revision);
    if (done) return true;
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
}

function renderConfig(service, natsUrl) {
  const template = readFileSync(join(ROOT, 'deploy/demo/sidecar.config.yaml'), 'utf8');
  return template
    .replace(/^(#.*\n)+/, '')
    .replaceAll('{{service}}', service)
    .replaceAll('{{instance}}', `${service}-1`)
    .replaceAll('{{nats_url}}', natsUrl);
}

async function story() {
  heading('authz-sidecar demo: two services, one control plane');
  note("orders and billing each run an authz sidecar. Their policy and the idp issuer's");
  note('signing keys are pushed, signed, over NATS JetStream with authzctl.');
  command('export PATH="$PWD/bin:$PATH"   # authzctl, authz-sidecar');
  command(`DEMO=${dir}   # a temp dir, removed at the end`);

  heading('1. NATS JetStream');
  mkdirSync(join(dir, 'nats'));
  const nats = await startNatsServer(join(dir, 'nats'));
  command(`nats-server -js -a 127.0.0.1 -p ${nats.port} -sd $DEMO/nats &`);
  output(`pid ${nats.pid}, listening on ${nats.url}`);

  heading('2. Control-plane signing key');
  await mustCtl(['keygen', '--out', inDir('cp.jwk.json'), '--kid', 'cp-demo']);
  Object.assign(env, { AUTHZ_NATS_URL: nats.url, AUTHZ_SIGNING_KEY: join(dir, 'cp.jwk.json') });
  command(`export AUTHZ_NATS_URL=${nats.url} AUTHZ_SIGNING_KEY=$DEMO/cp.jwk.json`);

  heading('3. Two sidecars, configured to take everything from NATS');
  note(`$DEMO/orders/config.yaml (from deploy/demo/sidecar.config.yaml; billing's differs only by name):`);
  for (const service of SERVICES) {
    mkdirSync(join(dir, service));
    writeFileSync(join(dir, service, 'config.yaml'), renderConfig(service, nats.url));
  }
  output(readFileSync(join(dir, 'orders', 'config.yaml'), 'utf8').trimEnd());
  for (const service of SERVICES) {
    command(`AUTHZ_GRPC_ADDRESS=127.0.0.1:0 AUTHZ_ADMIN_ADDRESS=127.0.0.1:0 authz-sidecar --config $DEMO/${service}/config.yaml &`);
    const sidecar = await startSidecar(service, join(dir, service, 'config.yaml'));
    sidecars[service] = { ...sidecar, variable: service.toUpperCase(), address: sidecar.grpcAddress };
    output(`pid ${sidecar.pid}, gRPC ${sidecar.grpcAddress}, admin ${sidecar.adminUrl}`);
  }
  command(`export ${SERVICES.map((s) => `${sidecars[s].variable}=${sidecars[s].address}`).join(' ')}`);
  command(`curl -s ${sidecars.orders.adminUrl}/readyz`);
  const before = await readyz(sidecars.orders);
  output(`${before.body}   (HTTP ${before.status})`);
  expect(before.status === 503, 'not ready before anything is published (503)');

  heading('4. Publish the idp key set and both policies, signed');
  await mustCtl(['publish', 'keys', 'deploy/examples/keys/idp.jwks.json', '--issuer', 'idp']);
  for (const service of SERVICES) await mustCtl(['publish', 'policy', `deploy/demo/${service}.policy.yaml`, '--service', service]);
  const publishedAt = performance.now();
  for (const service of SERVICES) {
    let state;
    while ((state = await readyz(sidecars[service])).status !== 200 && performance.now() - publishedAt < 10_000) await sleep(25);
    expect(state.status === 200, `${service}: /readyz ${state.status} ${state.body}`);
  }

  heading('5. Tokens and requests');
  note('orders: customers read orders (scope orders:read), admins may do anything.');
  note('billing: only the billing role reads invoices; the orders service may POST charges (mTLS).');
  const mint = (variable, key, args) => mustCtl(['token', 'mint', '--key', key, ...args], { as: variable }).then((r) => (tokens[variable] = r.stdout.trim()));
  await Promise.all([
    mint('CUSTOMER', IDP_KEY, ['--sub', 'alice', '--scope', 'orders:read', '--roles', 'customer', '--aud', 'orders', '--aud', 'billing']),
    mint('NOSCOPE', IDP_KEY, ['--sub', 'alice', '--roles', 'customer']),
    mint('ADMIN', IDP_KEY, ['--sub', 'root', '--roles', 'admin', '--aud', 'orders', '--aud', 'billing']),
    mint('CLERK', IDP_KEY, ['--sub', 'bob', '--roles', 'billing', '--aud', 'billing']),
    mint('EXPIRED', IDP_KEY, ['--sub', 'alice', '--scope', 'orders:read', '--roles', 'customer', '--exp-in', '-5m']),
  ]);
  say();
  await table([
    { service: 'orders', path: '/api/orders', token: 'CUSTOMER', caller: 'customer', expected: 'ALLOW by read-orders' },
    { service: 'orders', path: '/api/orders', caller: 'anonymous', expected: '401 credentials_missing' },
    { service: 'orders', method: 'DELETE', path: '/api/orders/7', token: 'CUSTOMER', caller: 'customer', expected: '403 missing_permission' },
    { service: 'orders', method: 'DELETE', path: '/api/orders/7', token: 'ADMIN', caller: 'admin', expected: 'ALLOW by admin-everything' },
    { service: 'orders', path: '/api/orders/7', token: 'NOSCOPE', caller: 'customer without orders:read', expected: '403 missing_scope (insufficient_scope)' },
    { service: 'orders', path: '/api/orders/../../../etc/passwd', token: 'ADMIN', caller: 'admin', expected: '400 path_traversal' },
    { service: 'orders', path: '/api/orders', token: 'EXPIRED', caller: 'customer, expired token', expected: '401 token_expired (invalid_token)' },
    { service: 'billing', path: '/api/invoices', token: 'CLERK', caller: 'billing clerk', expected: 'ALLOW by billing-staff' },
    { service: 'billing', path: '/api/invoices', token: 'ADMIN', caller: 'orders admin', expected: '403 missing_permission' },
    {
      service: 'billing',
      method: 'POST',
      path: '/internal/charges',
      principal: 'spiffe://cluster.local/ns/shop/sa/orders',
      caller: 'orders service (mTLS)',
      expected: 'ALLOW by orders-creates-charges',
    },
    {
      service: 'billing',
      method: 'POST',
      path: '/internal/charges',
      principal: 'spiffe://cluster.local/ns/shop/sa/web',
      caller: 'web service (mTLS)',
      expected: '403 default_deny',
    },
  ]);

  heading('6. Rotate the idp signing key, then retire the old one');
  note('A new key is published next to the old one; tokens from either are accepted meanwhile.');
  const rotated = await mustCtl(['rotate', '--issuer', 'idp', '--out', inDir('idp-next.private.jwk.json')]);
  const revision = Number(/revision (\d+)/.exec(rotated.stdout)?.[1]);
  const newKid = /kid ([^)\s]+)\)/.exec(rotated.stdout)?.[1];
  await showStatus('keys.issuer.idp', revision, 'both sidecars on the key set with both keys');
  await mint('NEXT', inDir('idp-next.private.jwk.json'), [
    '--sub',
    'carol',
    '--scope',
    'orders:read',
    '--roles',
    'customer,billing',
    '--aud',
    'orders',
    '--aud',
    'billing',
  ]);
  say();
  await table([
    { service: 'orders', path: '/api/orders', token: 'NEXT', caller: `customer (new key ${newKid})`, expected: 'ALLOW by read-orders' },
    { service: 'billing', path: '/api/invoices', token: 'NEXT', caller: `clerk (new key ${newKid})`, expected: 'ALLOW by billing-staff' },
    { service: 'orders', path: '/api/orders', token: 'CUSTOMER', caller: 'customer (old key, overlap)', expected: 'ALLOW by read-orders' },
  ]);
  say();
  note('Retiring the old kid drops it and the token cache built on it: its tokens fail at once.');
  const retired = await mustCtl(['rotate', '--issuer', 'idp', '--retire', 'idp-dev-1']);
  const retiredRevision = Number(/revision (\d+)/.exec(retired.stdout)?.[1]);
  if (!(await waitForStatus('keys.issuer.idp', retiredRevision))) fail(`sidecars did not report keys.issuer.idp revision ${retiredRevision} within 10 s`);
  await table([
    { service: 'orders', path: '/api/orders', token: 'CUSTOMER', caller: 'customer (retired key)', expected: '401 token_key_unknown (invalid_token)' },
    { service: 'billing', path: '/api/invoices', token: 'CLERK', caller: 'clerk (retired key)', expected: '401 token_key_unknown (invalid_token)' },
    { service: 'orders', path: '/api/orders', token: 'NEXT', caller: 'customer (new key)', expected: 'ALLOW by read-orders' },
  ]);
  await showStatus('keys.issuer.idp', retiredRevision, 'both sidecars on the set without idp-dev-1');
}

function table(rows) {
  return runTable(rows, { sidecars, tokens, run: (argv) => ctl(argv, { quiet: true }) });
}

/** Waits for convergence quietly, then shows `authzctl status` and checks it. */
async function showStatus(key, revision, what) {
  const converged = await waitForStatus(key, revision);
  const status = await ctl(['status', '--expect', String(SERVICES.length), '--wait', '500ms']);
  const rows = status.stdout.split('\n').filter((l) => l.includes(`${key} ${revision}/${revision}`));
  expect(converged && status.code === 0 && rows.length === SERVICES.length, `${what}: ${key} ${revision}/${revision}, no LAG (exit ${status.code})`);
}

/** Stops everything, removes the temp dir and prints the summary; resolves the exit code. */
async function finish() {
  heading('7. Clean up');
  const stopped = await stopAll();
  for (const s of stopped) {
    const how = s.forced ? 'killed after the grace period' : s.code !== null ? `exit ${s.code}` : `signal ${s.signal}`;
    expect(s.code === 0 && !s.forced, `${s.name} (pid ${s.pid}) stopped with ${s.sent}: ${how}`);
  }
  rmSync(dir, { recursive: true, force: true });
  expect(!existsSync(dir), `removed ${dir}`);

  const { held, failures } = tally();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  say();
  if (failures.length === 0) say(bold(green(`✔ all ${held} expectations held (${seconds} s)`)));
  else {
    say(bold(red(`✘ ${failures.length} of ${held + failures.length} expectations failed (${seconds} s):`)));
    for (const text of failures) say(`  - ${text}`);
  }
  say(`demo dir: ${dir}`);
  say(
    `demo pids: ${startedProcesses()
      .map((p) => `${p.name}=${p.pid}`)
      .join(' ')}`,
  );
  return failures.length === 0 ? 0 : 1;
}

/** The sidecars' last log lines, to explain a failure. */
function sidecarLogs() {
  for (const sidecar of Object.values(sidecars)) {
    say(`  last ${sidecar.name} sidecar log lines:`);
    output([...sidecar.logs.slice(-8), ...sidecar.stderr].join('\n'));
  }
}

let finishing = null;
const finishOnce = () => (finishing ??= finish());

process.on('exit', () => {
  killAllNow();
  rmSync(dir, { recursive: true, force: true });
});
let interruptedAt = 0;
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.on(signal, () => {
    if (interrupted) {
      // The same Ctrl-C can arrive twice (terminal and npm); a later one means "now": the
      // exit handler kills what is left.
      if (performance.now() - interruptedAt > 1_000) process.exit(code);
      return;
    }
    interrupted = true;
    interruptedAt = performance.now();
    say();
    fail(`interrupted by ${signal}`);
    finishOnce().then(() => process.exit(code));
  });
}
const watchdog = setTimeout(() => {
  interrupted = true;
  fail('the demo did not finish within 90 s');
  finishOnce().then(() => process.exit(1));
}, 90_000);
watchdog.unref();

try {
  if (!builtBinariesPresent()) throw new Error('dist/ is missing: run "npm run build" (or "npm run demo", which builds first)');
  await story();
} catch (error) {
  if (!(error instanceof Interrupted)) {
    fail(error instanceof Error ? error.message : String(error));
    if (Object.keys(sidecars).length > 0) sidecarLogs();
  }
}
if (!interrupted) process.exit(await finishOnce());
