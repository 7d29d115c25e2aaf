import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { connectControlPlane, type ControlPlane, type ControlPlaneEvent } from '../../src/control/nats-connect.js';
import { startKvFeed, type KvFeed, type KvFeedEntry, type KvFeedEvent } from '../../src/control/nats-feed.js';
import { connect } from 'nats';
import { createBucket, freePort, kvWriter, startNatsServer, type NatsServer } from '../../testkit/nats-server.js';

const text = (entry: KvFeedEntry) => new TextDecoder().decode(entry.value);

/** A feed on its own control-plane connection, recording everything it hands out. */
function follow(
  url: string,
  bucket: string,
  keys: string[],
  extra: { onHistory?: (key: string, entries: readonly KvFeedEntry[]) => void; checkIntervalMs?: number } = {},
) {
  const entries: KvFeedEntry[] = [];
  const events: Array<(KvFeedEvent | ControlPlaneEvent) & { at: number }> = [];
  const record = (event: KvFeedEvent | ControlPlaneEvent) => events.push({ ...event, at: Date.now() });
  const control: ControlPlane = connectControlPlane({ servers: [url], name: 'feed-test', onEvent: record });
  const applying = new Set<string>();
  const feed: KvFeed = startKvFeed({
    control,
    bucket,
    keys,
    onEvent: record,
    ...extra,
    async onEntry(entry) {
      assert.ok(!applying.has(entry.key), 'onEntry overlapped itself for one key');
      applying.add(entry.key);
      await sleep(1);
      entries.push(entry);
      applying.delete(entry.key);
    },
  });
  return {
    entries,
    events,
    feed,
    values: (key: string) => entries.filter((e) => e.key === key).map(text),
    async until(what: string, predicate: () => boolean, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
        await sleep(10);
      }
    },
    async close() {
      await feed.stop();
      await control.close();
    },
  };
}

describe('startKvFeed against a real nats-server', () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(() => server.stop());

  it('delivers the latest value of each listed key, then every change in order, and nothing else', async () => {
    await createBucket(server.url, 'authz');
    const writer = await kvWriter(server.url, 'authz');
    await writer.put('policy.orders', 'p1');
    await writer.put('policy.orders', 'p2');
    await writer.put('keys.issuer.idp', 'k1');
    await writer.put('policy.other', 'x1');
    const f = follow(server.url, 'authz', ['policy.orders', 'keys.issuer.idp', 'revocations']);
    try {
      await f.until('initial values', () => f.entries.length >= 2);
      assert.deepEqual(f.values('policy.orders'), ['p2']);
      assert.deepEqual(f.values('keys.issuer.idp'), ['k1']);
      for (let i = 3; i <= 6; i++) await writer.put('policy.orders', `p${i}`);
      await writer.put('policy.other', 'x2');
      await writer.kv.delete('keys.issuer.idp');
      const newest = (await writer.kv.get('policy.orders'))!.revision;
      await f.until('updates', () => f.feed.lastRevision('policy.orders') === newest && f.entries.some((e) => e.operation === 'DEL'));
      await sleep(100);
      assert.deepEqual(f.values('policy.orders'), ['p2', 'p3', 'p4', 'p5', 'p6']);
      const revisions = f.entries.filter((e) => e.key === 'policy.orders').map((e) => e.revision);
      assert.deepEqual(
        revisions,
        [...revisions].sort((a, b) => a - b),
      );
      assert.equal(f.entries.find((e) => e.key === 'keys.issuer.idp' && e.operation === 'DEL')?.value.length, 0);
      assert.ok(
        f.entries.every((e) => e.key !== 'policy.other'),
        'an unlisted key was delivered',
      );
      assert.equal(f.feed.lastRevision('revocations'), 0);
    } finally {
      await f.close();
      await writer.close();
    }
  });

  it('waits for a bucket that does not exist yet', async () => {
    const f = follow(server.url, 'late', ['policy.orders']);
    try {
      await f.until('kv-bucket-missing', () => f.events.some((e) => e.type === 'kv-bucket-missing'));
      await createBucket(server.url, 'late');
      const writer = await kvWriter(server.url, 'late');
      await writer.put('policy.orders', 'first');
      await writer.close();
      await f.until('the first value', () => f.entries.length === 1, 3000);
      assert.deepEqual(f.values('policy.orders'), ['first']);
      assert.equal(f.events.filter((e) => e.type === 'kv-bucket-missing').length, 1, 'missing is reported once per episode');
    } finally {
      await f.close();
    }
  });

  it('starts before the server exists and follows it once it is up', async () => {
    const port = await freePort();
    const f = follow(`nats://127.0.0.1:${port}`, 'authz', ['policy.orders']);
    let late: NatsServer | undefined;
    try {
      await sleep(600);
      assert.equal(f.events.filter((e) => e.type === 'nats-error').length, 1, 'the first failed dial is reported once');
      late = await startNatsServer({ port });
      await createBucket(late.url, 'authz');
      const writer = await kvWriter(late.url, 'authz');
      await writer.put('policy.orders', 'hello');
      await writer.close();
      await f.until('the value', () => f.entries.length === 1, 4000);
      assert.deepEqual(f.values('policy.orders'), ['hello']);
      assert.ok(f.events.some((e) => e.type === 'nats-connected'));
    } finally {
      await f.close();
      await late?.stop();
    }
  });

  it('survives kill -9 and a restart during a burst of 50 puts', async () => {
    const own = await startNatsServer();
    await createBucket(own.url, 'authz');
    const writer = await kvWriter(own.url, 'authz');
    await writer.put('policy.orders', 'v-initial');
    const f = follow(own.url, 'authz', ['policy.orders']);
    let restartedAt = 0;
    try {
      await f.until('the initial value', () => f.entries.length === 1);
      const burst = (async () => {
        for (let i = 0; i < 50; i++) {
          await writer.put('policy.orders', `v${i}`);
          await sleep(10);
        }
      })();
      await f.until('part of the burst', () => f.entries.length >= 10);
      await own.kill9();
      await sleep(300);
      restartedAt = Date.now(); // the server is back within ~100 ms of this
      await own.restart();
      await burst;
      const newest = (await writer.kv.get('policy.orders'))!.revision;
      await f.until('the newest revision', () => f.feed.lastRevision('policy.orders') === newest, 5000);
      const took = Date.now() - restartedAt;
      assert.ok(took < 5000, `caught up ${took} ms after the restart`);
      const revisions = f.entries.map((e) => e.revision);
      for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i] > revisions[i - 1], `revisions not increasing: ${revisions}`);
      assert.equal(f.values('policy.orders').at(-1), 'v49');
      const rewatch = f.events.find((e) => e.type === 'kv-rewatch' && e.at >= restartedAt - 1000);
      assert.ok(rewatch, 'a kv-rewatch event');
      const resumed = f.events.find((e) => e.type === 'kv-watching' && e.at >= restartedAt);
      assert.ok(resumed && resumed.at - restartedAt < 3000, `watch resumed ${resumed && resumed.at - restartedAt} ms after the restart`);
    } finally {
      await f.close();
      await writer.close();
      await own.stop();
    }
  });

  it('leaves no handles behind: a process that stops the feed and closes the connection exits', async () => {
    await createBucket(server.url, 'exits');
    const writer = await kvWriter(server.url, 'exits');
    await writer.put('policy.orders', 'x');
    await writer.close();
    const dist = (name: string) => pathToFileURL(new URL(`../../src/control/${name}`, import.meta.url).pathname).href;
    const deadPort = await freePort();
    const script = `
      import { connectControlPlane } from ${JSON.stringify(dist('nats-connect.js'))};
      import { startKvFeed } from ${JSON.stringify(dist('nats-feed.js'))};
      for (const url of [${JSON.stringify(server.url)}, 'nats://127.0.0.1:${deadPort}']) {
        const control = connectControlPlane({ servers: [url], name: 'exit-test' });
        let got;
        const seen = new Promise((resolve) => (got = resolve));
        const feed = startKvFeed({ control, bucket: 'exits', keys: ['policy.orders'], onEntry: () => got() });
        await Promise.race([seen, new Promise((r) => setTimeout(r, 500))]);
        await feed.stop();
        await control.close();
      }
      console.log('stopped');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = new AbortController();
    const code = await Promise.race([exited, sleep(8000, 'hung' as const, { signal: timer.signal })]);
    timer.abort();
    if (code === 'hung') child.kill('SIGKILL');
    assert.equal(code, 0, output);
    assert.match(output, /stopped/);
  });

  it('reads a key from scratch as its whole history (onHistory), then follows it', async () => {
    await createBucket(server.url, 'history');
    const writer = await kvWriter(server.url, 'history');
    for (const v of ['h1', 'h2', 'h3']) await writer.put('policy.orders', v);
    const histories: string[][] = [];
    const f = follow(server.url, 'history', ['policy.orders'], { onHistory: (_key, entries) => histories.push(entries.map(text)) });
    try {
      await f.until('history', () => histories.length === 1);
      assert.deepEqual(histories, [['h1', 'h2', 'h3']]);
      await writer.put('policy.orders', 'h4');
      await f.until('the next change', () => f.values('policy.orders').includes('h4'));
      assert.deepEqual(f.values('policy.orders'), ['h4']);
    } finally {
      await f.close();
      await writer.close();
    }
  });

  it('notices a watch whose consumer is gone (deleted on the server) within about a second and applies from the check', async () => {
    await createBucket(server.url, 'stale');
    const writer = await kvWriter(server.url, 'stale');
    await writer.put('revocations', 'r1');
    const f = follow(server.url, 'stale', ['revocations'], { checkIntervalMs: 200 });
    const nc = await connect({ servers: server.url });
    try {
      await f.until('the first value', () => f.values('revocations').includes('r1'));
      const jsm = await nc.jetstreamManager();
      const consumers = await jsm.consumers.list('KV_stale').next();
      assert.ok(consumers.length > 0, 'the watch has a consumer');
      for (const c of consumers) await jsm.consumers.delete('KV_stale', c.name);
      await writer.put('revocations', 'r2');
      const written = Date.now();
      // nats.js alone would notice only after two missed 5 s heartbeats.
      await f.until('r2 from the check', () => f.values('revocations').includes('r2'), 3000);
      const took = Date.now() - written;
      assert.ok(
        f.events.some((e) => e.type === 'kv-stale-watch'),
        'a kv-stale-watch event',
      );
      assert.ok(took < 2000, `took ${took} ms`);
      await f.until('a re-created watch', () => f.events.filter((e) => e.type === 'kv-watching').length >= 2);
      await writer.put('revocations', 'r3');
      await f.until('r3 from the new watch', () => f.values('revocations').includes('r3'));
      assert.ok(f.feed.confirmedAt('revocations') > written);
    } finally {
      await nc.close();
      await f.close();
      await writer.close();
    }
  });
});
