import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { collectWhenIdle, exposedGc, memoryReducingCollection } from '../../src/runtime/idle-gc.js';
import { SIDECAR_NODE_FLAGS } from '../../testkit/launcher.js';
import { ROOT } from '../../testkit/paths.js';

/** Waits until `condition` holds, polling; fails after `ms`. */
async function until(condition: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) assert.fail('condition not reached');
    await sleep(5);
  }
}

describe('collectWhenIdle', () => {
  it('collects once after a burst of Checks ends, then not again until Checks resume', async () => {
    let checks = 0;
    let collections = 0;
    const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes: 0, collect: () => collections++ });
    try {
      await sleep(100);
      assert.equal(collections, 0, 'never busy: nothing to give back');
      checks += 10;
      await until(() => collections === 1);
      await sleep(100);
      assert.equal(collections, 1, 'one collection per burst');
      assert.equal(idle.runs(), 1);
      checks += 1;
      await until(() => collections === 2);
    } finally {
      idle.stop();
    }
  });

  it('runs a second collection once Checks have stayed stopped settleMs after the first; a Check starts over', async () => {
    let checks = 0;
    const at: number[] = [];
    const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes: 0, settleMs: 400, collect: () => at.push(performance.now()) });
    try {
      checks++;
      await until(() => at.length === 1);
      await sleep(100);
      assert.equal(at.length, 1, 'not before settleMs');
      checks++; // before settleMs: this spell ends without its second collection
      await until(() => at.length === 2);
      await until(() => at.length === 3);
      assert.ok(at[2] - at[1] >= 400, `the second collection ${Math.round(at[2] - at[1])} ms after the first of its spell`);
      await sleep(600);
      assert.equal(at.length, 3, 'two per quiet spell at most');
    } finally {
      idle.stop();
    }
  });

  it('runs no second collection when the first was skipped (too little to free)', async () => {
    let checks = 0;
    let collections = 0;
    const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes: 1024 ** 4, settleMs: 50, collect: () => collections++ });
    try {
      checks++;
      await sleep(300);
      assert.equal(collections, 0);
    } finally {
      idle.stop();
    }
  });

  it('does not collect while Checks keep coming', async () => {
    let checks = 0;
    let collections = 0;
    const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes: 0, collect: () => collections++ });
    const busy = setInterval(() => checks++, 2);
    try {
      await sleep(150);
      assert.equal(collections, 0);
    } finally {
      clearInterval(busy);
      idle.stop();
    }
  });

  it('skips the collection when the heap holds little beyond the live heap', async () => {
    let checks = 0;
    let collections = 0;
    const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes: 1024 ** 4, collect: () => collections++ });
    try {
      checks++;
      await sleep(150);
      assert.equal(collections, 0);
    } finally {
      idle.stop();
    }
  });

  it('with memoryReducingCollection(gc), runs a real full collection that frees the garbage of a burst', () => {
    // In a node started with the image's flags, --expose-gc among them: the sidecar's own wiring.
    const module = pathToFileURL(`${ROOT}dist/src/runtime/idle-gc.js`).href;
    const script = `
      import { collectWhenIdle, exposedGc, memoryReducingCollection } from ${JSON.stringify(module)};
      import { setTimeout as sleep } from 'node:timers/promises';
      const gc = exposedGc();
      if (gc === undefined) throw new Error('no gc: the image does not start node with --expose-gc');
      let checks = 0;
      const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes: 0, collect: memoryReducingCollection(gc) });
      let garbage = Array.from({ length: 300_000 }, (_, i) => ({ i, s: 'x' + i }));
      checks++;
      garbage = null;
      const before = process.memoryUsage().heapUsed;
      while (idle.runs() === 0) await sleep(5);
      idle.stop();
      process.stdout.write(JSON.stringify({ freedMiB: (before - process.memoryUsage().heapUsed) / 1024 / 1024, garbage }));
    `;
    const out = JSON.parse(
      execFileSync(process.execPath, [...SIDECAR_NODE_FLAGS, '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 10_000,
      }),
    ) as { freedMiB: number; garbage: null };
    assert.equal(out.garbage, null);
    assert.ok(out.freedMiB > 8, `the burst garbage is gone: ${out.freedMiB.toFixed(1)} MiB freed`);
  });

  it('counts old-generation slack only: a large fixed new space full of garbage starts no collection', () => {
    // In a node started with the image's flags: 32 MiB of new space, all committed while busy.
    // With no slack required (the control), the same burst ends in a collection.
    const module = pathToFileURL(`${ROOT}dist/src/runtime/idle-gc.js`).href;
    const script = `
      import { collectWhenIdle } from ${JSON.stringify(module)};
      import { getHeapStatistics } from 'node:v8';
      import { setTimeout as sleep } from 'node:timers/promises';
      const burst = async (minSlackBytes) => {
        let checks = 0;
        let collections = 0;
        const idle = collectWhenIdle({ activity: () => checks, idleMs: 20, minSlackBytes, collect: () => collections++ });
        let sink = 0;
        for (let i = 0; i < 2e6; i++) sink += [i, String(i)].length; // young garbage only
        checks++;
        const heap = getHeapStatistics();
        await sleep(200);
        idle.stop();
        return { collections, slackIncludingNewSpace: heap.total_heap_size - heap.used_heap_size > 16 * 1024 * 1024 };
      };
      process.stdout.write(JSON.stringify({ byDefault: await burst(undefined), control: (await burst(0)).collections }));
    `;
    const out = execFileSync(process.execPath, [...SIDECAR_NODE_FLAGS, '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    // What the whole heap's slack would have said: collect.
    assert.deepEqual(JSON.parse(out), { byDefault: { collections: 0, slackIncludingNewSpace: true }, control: 1 });
  });
});

describe('exposedGc', () => {
  it("is V8's gc when node exposes it, and undefined otherwise: it never sets a flag to get one", () => {
    const gc = (): void => {};
    assert.equal(exposedGc({ gc }), gc);
    assert.equal(exposedGc({}), undefined);
    assert.equal(exposedGc({ gc: 'not a function' }), undefined);
  });

  it('memoryReducingCollection runs two full collections per call', () => {
    let calls = 0;
    const collect = memoryReducingCollection(() => calls++);
    collect();
    assert.equal(calls, 2);
  });
});
