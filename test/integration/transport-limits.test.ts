import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EnvoyClient, envoyRequest } from '../../testkit/envoy-client.js';
import { CLIENT_PREFACE, emptyGrpcMessage, ERROR, FLAG, FRAME, frame, grpcHeaders, PREFACE_MAGIC, RawH2Connection } from '../../testkit/h2-raw.js';
import { startSidecar, type SidecarProcess } from '../../testkit/sidecar.js';
import { ordersPolicy, writeSidecarDir } from '../../testkit/sidecar-dir.js';
import { mint } from '../../testkit/tokens.js';
import { sleep, until } from '../../testkit/wait.js';

/**
 * The gRPC listener's limits against the real binary, over raw TCP: connections that never
 * finish the HTTP/2 preface are closed at grpc.handshakeTimeoutMs, connections over
 * grpc.maxConnections are closed on accept, and streams over grpc.maxConcurrentStreams are
 * refused, while a gRPC client built from Envoy's protos keeps getting answers.
 */
const HANDSHAKE_MS = 1_000;
const MAX_CONNECTIONS = 48;
const MAX_STREAMS = 4;
/** What a loaded 2-core machine may add to a timer. */
const SLACK_MS = 4_000;
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

describe('transport limits of the running sidecar', () => {
  let sidecar: SidecarProcess;
  let client: EnvoyClient;
  const raws: RawH2Connection[] = [];

  const open = (port = Number(sidecar.grpcAddress.split(':')[1])) => {
    const raw = new RawH2Connection(port);
    raws.push(raw);
    return raw;
  };
  const metric = async (name: string, labels = ''): Promise<number> => {
    const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  /** Polls the open-connection gauge until it is `value` (or the slack runs out); returns the last reading. */
  const connectionsReach = async (value: number): Promise<number> => {
    const deadline = Date.now() + SLACK_MS;
    let count = await metric('authz_grpc_connections');
    while (count !== value && Date.now() < deadline) {
      await sleep(20);
      count = await metric('authz_grpc_connections');
    }
    return count;
  };
  const refused = (reason: string) => metric('authz_grpc_connections_refused_total', `{reason="${reason}"}`);
  const allowed = async () => {
    const token = await mint({ roles: ['customer'] });
    return (await client.check(envoyRequest({ path: '/api/orders', headers: { authorization: `Bearer ${token}` } }))).status.code === 0;
  };

  before(async () => {
    const { configPath } = writeSidecarDir({
      issuer: 'bare',
      policy: ordersPolicy(),
      grpc: { handshakeTimeoutMs: HANDSHAKE_MS, maxConnections: MAX_CONNECTIONS, maxConcurrentStreams: MAX_STREAMS },
    });
    sidecar = await startSidecar(configPath);
    client = new EnvoyClient(sidecar.grpcAddress);
    assert.ok(await allowed());
  });
  after(async () => {
    for (const raw of raws) raw.destroy();
    client?.close();
    await sidecar?.stop();
  });

  it(`closes connections that send nothing or part of the preface after grpc.handshakeTimeoutMs (${HANDSHAKE_MS} ms), answering Checks meanwhile`, async (t) => {
    let answered = 0;
    const failures: unknown[] = [];
    let stop = false;
    const checking = (async () => {
      while (!stop) {
        try {
          if (await allowed()) answered++;
          else failures.push('not allowed');
        } catch (error) {
          failures.push(error);
        }
      }
    })();

    const silent = Array.from({ length: 15 }, () => open());
    const halfMagic = Array.from({ length: 15 }, () => open());
    const halfSettings = Array.from({ length: 10 }, () => open());
    await Promise.all(raws.map((raw) => raw.connected()));
    for (const raw of halfMagic) raw.write(PREFACE_MAGIC.subarray(0, 12));
    // The whole magic and 4 of the SETTINGS frame's 9 header bytes.
    for (const raw of halfSettings) raw.write(Buffer.concat([PREFACE_MAGIC, Buffer.from([0, 0, 0, FRAME.SETTINGS])]));
    const http1 = open();
    await http1.connected();
    http1.write(Buffer.from('GET /healthz HTTP/1.1\r\nHost: sidecar\r\n\r\n'));

    const stalled = [...silent, ...halfMagic, ...halfSettings];
    const times = await Promise.all(stalled.map((raw) => raw.closedWithin(HANDSHAKE_MS + SLACK_MS)));
    await http1.closedWithin(SLACK_MS);
    stop = true;
    await checking;
    t.diagnostic(`${stalled.length} stalled connections closed after ${Math.min(...times)}–${Math.max(...times)} ms; ${answered} Checks answered meanwhile`);
    for (const ms of times) assert.ok(ms >= HANDSHAKE_MS - 50, `closed after ${ms} ms, before the handshake timeout`);
    assert.ok(
      stalled.every((raw) => raw.frames.length === 0),
      'none got as far as the server SETTINGS',
    );
    assert.deepEqual(failures, []);
    assert.ok(answered >= 5, `${answered} Checks answered while the stalled connections were held`);
    assert.equal(await refused('handshake_timeout'), stalled.length);
    assert.equal(await refused('bad_preface'), 1);
    const left = await connectionsReach(1);
    assert.ok(left >= 1 && left <= 2, `only the client's connection is left (${left})`);
  });

  it(`closes connections over grpc.maxConnections (${MAX_CONNECTIONS}) on accept; an established client keeps being answered`, async () => {
    const inUse = await metric('authz_grpc_connections');
    assert.ok(inUse >= 1 && inUse <= 2, `the client holds ${inUse}`);
    const held = Array.from({ length: MAX_CONNECTIONS - inUse }, () => open());
    await Promise.all(held.map((raw) => raw.connected()));
    for (const raw of held) raw.write(CLIENT_PREFACE);
    await Promise.all(held.map((raw) => raw.serverSettings()));
    assert.equal(await metric('authz_grpc_connections'), MAX_CONNECTIONS);

    const over = Array.from({ length: 5 }, () => open());
    for (const raw of over) {
      raw.socket.once('connect', () => raw.write(CLIENT_PREFACE));
      await raw.closedWithin(SLACK_MS);
      assert.equal(raw.frames.length, 0, 'closed without a SETTINGS frame');
    }
    assert.equal(await refused('connection_limit'), over.length);
    assert.ok(await allowed(), 'the established client is still answered');

    for (const raw of held.slice(0, 3)) raw.destroy();
    assert.equal(await connectionsReach(MAX_CONNECTIONS - 3), MAX_CONNECTIONS - 3);
    const again = open();
    await again.connected();
    again.write(CLIENT_PREFACE);
    await again.serverSettings();
    assert.equal(await refused('connection_limit'), over.length, 'a freed slot is taken again');
    for (const raw of [...held, again]) raw.destroy();
    assert.equal(await connectionsReach(inUse), inUse);
  });

  it(`advertises grpc.maxConcurrentStreams (${MAX_STREAMS}); a client that respects it queues, one that ignores it is refused`, async () => {
    const probe = open();
    await probe.connected();
    probe.write(CLIENT_PREFACE);
    assert.equal(await probe.maxConcurrentStreams(), MAX_STREAMS);

    // grpc-js (like Envoy) holds calls over the limit until a stream frees: all answered.
    const results = await Promise.all(Array.from({ length: 6 * MAX_STREAMS }, () => allowed()));
    assert.ok(results.every(Boolean));

    // Opened before the client has acknowledged the server's SETTINGS: each stream over the
    // limit gets RST_STREAM REFUSED_STREAM (safe to retry), the connection stays up.
    const eager = open();
    await eager.connected();
    const streams = Array.from({ length: 2 * MAX_STREAMS }, (_, i) => 1 + 2 * i);
    eager.write(Buffer.concat([CLIENT_PREFACE, ...streams.map((id) => grpcHeaders(id, CHECK_PATH))]));
    await until('refusals', () => eager.resets().size === MAX_STREAMS);
    assert.deepEqual(
      [...eager.resets()],
      streams.slice(MAX_STREAMS).map((id) => [id, ERROR.REFUSED_STREAM]),
    );
    eager.write(emptyGrpcMessage(1));
    await eager.waitFor('an answer on an admitted stream', (f) => f.type === FRAME.DATA && f.stream === 1);
    assert.equal(eager.goaway(), undefined);
    assert.equal(eager.closed, false);

    // After acknowledging them, going over the limit is a protocol error: nghttp2 fails the
    // session and Node closes it with GOAWAY (INTERNAL_ERROR) and the socket.
    const rude = open();
    await rude.connected();
    rude.write(CLIENT_PREFACE);
    await rude.serverSettings();
    rude.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    await rude.waitFor('the ACK of our SETTINGS', (f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0);
    rude.write(Buffer.concat(Array.from({ length: MAX_STREAMS + 1 }, (_, i) => grpcHeaders(1 + 2 * i, CHECK_PATH))));
    await rude.closedWithin(SLACK_MS);
    assert.deepEqual(rude.goaway(), { lastStream: 1 + 2 * (MAX_STREAMS - 1), code: ERROR.INTERNAL_ERROR });
    assert.ok(await allowed(), 'other connections are not affected');
  });
});
