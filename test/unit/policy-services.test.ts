import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckRequest__Output } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import { hostName, ServiceTable } from '../../src/policy/index.js';
import { buildRequestView, contextExtension, type RequestView } from '../../src/request/index.js';

/** A view built by the sidecar's own builder from a CheckRequest with this authority and these context extensions. */
function view(authority: string, extensions: Record<string, string> = {}): RequestView {
  const request = {
    attributes: {
      request: { http: { id: '1', method: 'GET', path: '/', host: authority, headers: {}, scheme: 'https', protocol: 'HTTP/2' } },
      context_extensions: extensions,
    },
  } as unknown as CheckRequest__Output;
  return buildRequestView(request);
}

const selected = (table: ServiceTable, v: RequestView) => table.select(v)?.name ?? null;

describe('ServiceTable', () => {
  it('single: every Check is for the one service, whatever it names', () => {
    const table = new ServiceTable([{ name: 'orders' }], 'single');
    assert.equal(selected(table, view('anything.test', { service: 'billing' })), 'orders');
    assert.equal(table.get('orders'), table.all[0]);
  });

  it('contextExtension: the service the route names, and no other', () => {
    const table = new ServiceTable([{ name: 'orders' }, { name: 'billing' }], 'contextExtension');
    assert.equal(selected(table, view('orders.test', { service: 'billing' })), 'billing');
    assert.equal(selected(table, view('orders.test', { service: 'orders', other: 'x' })), 'orders');
    assert.equal(selected(table, view('orders.test')), null, 'no extension');
    assert.equal(selected(table, view('orders.test', { service: 'Orders' })), null, 'names are exact');
    assert.equal(selected(table, view('orders.test', { service: '' })), null);
    assert.equal(selected(table, view('orders.test', { service: 'constructor' })), null, 'no prototype key');
  });

  it('host: the exact host first, then the longest wildcard suffix; port, case and a final dot ignored', () => {
    const table = new ServiceTable(
      [
        { name: 'shop', hosts: ['shop.example.com', '*.example.com'] },
        { name: 'orders', hosts: ['*.orders.example.com', 'orders.example.com'] },
        { name: 'admin', hosts: ['admin.orders.example.com'] },
      ],
      'host',
    );
    const cases: Array<[string, string | null]> = [
      ['shop.example.com', 'shop'],
      ['SHOP.Example.com:8443', 'shop'],
      ['shop.example.com.', 'shop'],
      ['www.example.com', 'shop'],
      ['a.b.example.com', 'shop'],
      ['orders.example.com', 'orders'],
      ['eu.orders.example.com', 'orders'],
      ['x.eu.orders.example.com', 'orders'],
      ['admin.orders.example.com', 'admin'],
      ['example.com', null],
      ['.example.com', null],
      ['example.com.evil.test', null],
      ['shop.example.com.evil.test', null],
      ['[::1]:443', null],
      ['', null],
    ];
    for (const [authority, service] of cases) assert.equal(selected(table, view(authority)), service, authority);
  });

  it('refuses a table the config schema would not let through', () => {
    assert.throws(() => new ServiceTable([], 'contextExtension'), TypeError);
    assert.throws(() => new ServiceTable([{ name: 'a' }, { name: 'b' }], 'single'), TypeError);
    assert.throws(() => new ServiceTable([{ name: 'a' }, { name: 'a' }], 'contextExtension'), /duplicate service "a"/);
    assert.throws(
      () =>
        new ServiceTable(
          [
            { name: 'a', hosts: ['*.x.test'] },
            { name: 'b', hosts: ['*.x.test'] },
          ],
          'host',
        ),
      /belongs to two services/,
    );
  });

  it("contextExtension reads one extension of the sidecar's views, and of any other RequestView", () => {
    const built = view('a.test', { service: 'orders' });
    assert.equal(contextExtension(built, 'service'), 'orders');
    assert.equal(contextExtension(built, 'toString'), undefined, 'own keys only');
    const plain = { contextExtensions: Object.freeze({ service: 'billing' }) } as unknown as RequestView;
    assert.equal(contextExtension(plain, 'service'), 'billing');
    assert.equal(contextExtension(plain, 'constructor'), undefined);
  });

  it('hostName strips the port of names and IPv6 literals alike', () => {
    assert.deepEqual(['a.test', 'a.test:80', 'A.Test.', '[::1]', '[::1]:8080', 'a.test.:80'].map(hostName), [
      'a.test',
      'a.test',
      'a.test',
      '[::1]',
      '[::1]',
      'a.test',
    ]);
  });
});
