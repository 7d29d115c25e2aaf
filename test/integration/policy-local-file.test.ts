import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocumentError } from '../../src/config/index.js';
import { startLocalPolicy, type PolicyEvent } from '../../src/policy/local-file.js';
import { PolicyStore } from '../../src/policy/store.js';
import { ANONYMOUS } from '../../src/tokens/index.js';
import type { RequestView } from '../../src/request/types.js';
import { sleep, until } from '../../testkit/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'local-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function policyText(defaultAction: 'ALLOW' | 'DENY', service = 'orders', rules = 1): string {
  const list = Array.from({ length: rules }, (_, i) => `    - { name: r${i}, action: ALLOW, to: [{ paths: ["/r${i}"] }] }`).join('\n');
  return `apiVersion: authz-sidecar/v1\nkind: Policy\nmetadata: { name: orders, service: ${service} }\nspec:\n  defaultAction: ${defaultAction}\n  rules:\n${list}\n`;
}
const revisionOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** Replaces the file the way deploy tools do (new inode), so the poller sees it at once. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const view: RequestView = {
  id: 'r',
  method: 'GET',
  host: 'h',
  path: '/elsewhere',
  rawPath: '/elsewhere',
  query: {},
  headers: {},
  repeatedHeaders: new Set(),
  sourceAddress: '',
  sourcePrincipal: '',
  contextExtensions: {},
};

let counter = 0;
async function start(text: string) {
  const file = join(dir, `policy-${++counter}.yaml`);
  writeFileSync(file, text);
  const store = new PolicyStore();
  const events: PolicyEvent[] = [];
  const handle = await startLocalPolicy({ file, service: 'orders', intervalMs: 50, store, onEvent: (e) => events.push(e) });
  return { file, store, events, handle };
}

describe('startLocalPolicy', () => {
  it('loads the file into the store before resolving', async () => {
    const text = policyText('DENY', 'orders', 2);
    const { file, store, events, handle } = await start(text);
    handle.stop();
    const policy = store.current();
    assert.ok(policy);
    assert.equal(policy.name, 'orders');
    assert.equal(policy.revision, revisionOf(text));
    assert.equal(policy.evaluate(view, ANONYMOUS).allow, false);
    assert.deepEqual(events, [{ type: 'policy-loaded', name: 'orders', revision: revisionOf(text), rules: 2, file }]);
  });

  it('a valid change is swapped in whole and reported with the new revision', async () => {
    const { file, store, events, handle } = await start(policyText('DENY'));
    const first = store.current();
    const changed = policyText('ALLOW', 'orders', 3);
    replace(file, changed);
    await until('reload', () => events.length === 2);
    handle.stop();
    assert.deepEqual(events[1], { type: 'policy-loaded', name: 'orders', revision: revisionOf(changed), rules: 3, file });
    assert.notEqual(events[1].type === 'policy-loaded' && events[1].revision, first?.revision);
    assert.notEqual(store.current(), first);
    assert.equal(store.current()?.evaluate(view, ANONYMOUS).allow, true, 'the new policy decides');
  });

  it('an invalid change is reported as policy_invalid and the policy in force stays', async () => {
    const { file, store, events, handle } = await start(policyText('DENY'));
    const inForce = store.current();
    replace(file, policyText('DENY').replace('defaultAction: DENY', 'defaultAction: MAYBE'));
    await until('rejection', () => events.length === 2);
    replace(file, 'apiVersion: authz-sidecar/v1\nkind: [\n');
    await until('second rejection', () => events.length === 3);
    handle.stop();
    assert.deepEqual(events[1], {
      type: 'policy-rejected',
      file,
      code: 'policy_invalid',
      message: `${file}:5:18: spec.defaultAction: must be "ALLOW" or "DENY"`,
    });
    assert.equal(events[2].type === 'policy-rejected' && events[2].code, 'policy_invalid');
    assert.ok(events[2].type === 'policy-rejected' && events[2].message.startsWith(`${file}:3:1: (document): `), 'a YAML error names file and position');
    assert.equal(store.current(), inForce);
  });

  it('a policy for another service is policy_wrong_service and is not used', async () => {
    const { file, store, events, handle } = await start(policyText('DENY'));
    const inForce = store.current();
    replace(file, policyText('ALLOW', 'billing'));
    await until('rejection', () => events.length === 2);
    handle.stop();
    assert.deepEqual(events[1], {
      type: 'policy-rejected',
      file,
      code: 'policy_wrong_service',
      message: `${file}:3:36: metadata.service: is "billing" but this sidecar serves "orders"`,
    });
    assert.equal(store.current(), inForce);
  });

  it('a deleted file is reported once as policy_unreadable; its return is loaded', async () => {
    const { file, store, events, handle } = await start(policyText('DENY'));
    unlinkSync(file);
    await until('unreadable', () => events.length === 2);
    await sleep(200);
    assert.equal(events.length, 2, 'once, not on every poll');
    assert.deepEqual(events[1], { type: 'policy-rejected', file, code: 'policy_unreadable', message: `${file}: cannot read: ENOENT` });
    assert.ok(store.current(), 'the policy in force stays');
    writeFileSync(file, policyText('ALLOW'));
    await until('reload', () => events.length === 3);
    handle.stop();
    assert.equal(events[2].type, 'policy-loaded');
    assert.equal(store.current()?.evaluate(view, ANONYMOUS).allow, true);
  });

  it('a missing file at start throws a DocumentError naming the file', async () => {
    const file = join(dir, 'absent.yaml');
    const store = new PolicyStore();
    await assert.rejects(startLocalPolicy({ file, service: 'orders', intervalMs: 50, store, onEvent: () => assert.fail('no event') }), (error: unknown) => {
      assert.ok(error instanceof DocumentError);
      assert.equal(error.message, `${file}: (document): cannot read: ENOENT`);
      return true;
    });
    assert.equal(store.current(), null);
  });

  it('an invalid or foreign policy at start throws the DocumentError and loads nothing', async () => {
    for (const [text, expected] of [
      [policyText('DENY').replace('kind: Policy', 'kind: Poilcy'), ':2:7: kind: must be "Policy"'],
      [policyText('DENY', 'billing'), ':3:36: metadata.service: is "billing" but this sidecar serves "orders"'],
    ] as const) {
      const file = join(dir, `bad-${++counter}.yaml`);
      writeFileSync(file, text);
      const store = new PolicyStore();
      await assert.rejects(
        startLocalPolicy({ file, service: 'orders', intervalMs: 50, store, onEvent: () => {} }),
        (error: unknown) => error instanceof DocumentError && error.message === `${file}${expected}`,
      );
      assert.equal(store.current(), null);
    }
  });

  it('stop() stops polling: later changes are neither loaded nor reported', async () => {
    const { file, store, events, handle } = await start(policyText('DENY'));
    const inForce = store.current();
    handle.stop();
    replace(file, policyText('ALLOW'));
    await sleep(250);
    unlinkSync(file);
    await sleep(150);
    assert.equal(events.length, 1);
    assert.equal(store.current(), inForce);
  });
});
