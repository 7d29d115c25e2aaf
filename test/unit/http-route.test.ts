import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoute } from '../../src/http/route.js';

describe('parseRoute', () => {
  it('reads the convention from the endpoint path', () => {
    assert.deepEqual(parseRoute('/nginx'), { convention: 'nginx', service: null, originalPath: '' });
    assert.deepEqual(parseRoute('/forward-auth'), { convention: 'forward_auth', service: null, originalPath: '' });
    assert.deepEqual(parseRoute('/envoy/api/orders?x=1'), { convention: 'envoy', service: null, originalPath: '/api/orders?x=1' });
  });

  it("keeps Envoy's original path as sent, odd spellings included, for the request view to judge", () => {
    assert.equal(parseRoute('/envoy/a/../b%2F')?.originalPath, '/a/../b%2F');
    assert.equal(parseRoute('/envoy//x')?.originalPath, '//x');
    assert.equal(parseRoute('/envoy?q')?.originalPath, '?q');
    assert.equal(parseRoute('/envoy')?.originalPath, '');
  });

  it('takes a gateway service only from the /service/<name>/ prefix, before the convention', () => {
    assert.deepEqual(parseRoute('/service/billing/nginx'), { convention: 'nginx', service: 'billing', originalPath: '' });
    assert.deepEqual(parseRoute('/service/billing.v2/envoy/svc/x'), { convention: 'envoy', service: 'billing.v2', originalPath: '/svc/x' });
    // After /envoy, a segment is the original path, never a service.
    assert.deepEqual(parseRoute('/envoy/service/billing/nginx'), { convention: 'envoy', service: null, originalPath: '/service/billing/nginx' });
  });

  it('refuses what is no endpoint: other paths, queries on fixed endpoints, bad service names', () => {
    for (const url of [
      '/',
      '',
      '*',
      'http://h/nginx',
      '/nginx/',
      '/nginx?x=1',
      '/nginx/orders',
      '/NGINX',
      '/forward-auth/',
      '/envoyx/a',
      '/service/billing',
      '/service//nginx',
      '/service/Billing/nginx',
      '/service/-x/nginx',
      `/service/${'a'.repeat(64)}/nginx`,
      '/service/a%2Fb/nginx',
      '/service/billing/service/orders/nginx',
    ])
      assert.equal(parseRoute(url), null, url);
  });
});
