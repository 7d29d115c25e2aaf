import { loadPolicyFile, parsePolicy } from './dist/src/policy/index.js'
const p = loadPolicyFile('test/fixtures/policies/orders.yaml')
console.log(p)
const req = (o) => ({ id: 'r1', method: 'GET', host: 'orders.example.test', path: '/api/orders', rawPath: '/api/orders', query: {}, headers: { 'x-tenant-id': 't1' }, repeatedHeaders: new Set(), sourceAddress: '10.0.0.1:5000', sourcePrincipal: '', contextExtensions: {}, ...o })
const tok = (o) => ({ issuerName: 'idp', issuer: 'https://idp.example.test', subject: 'user-1', audience: ['orders'], jti: undefined, expiresAt: 2e9, scopes: ['orders:read'], claims: Object.freeze({ tenant: 't1', roles: ['customer'], exp: 2e9 }), ...o })
const auth = (o) => ({ user: tok(), service: null, principal: null, ...o })
console.log(p.evaluate(req(), auth()))
console.log(p.evaluate(req({headers: {}}), auth()))
console.log(p.evaluate(req(), auth({user: tok({scopes: []})})))
console.log(p.evaluate(req(), auth({user: tok({claims: {tenant: 't1', roles: 'guest'}})})))
console.log(p.evaluate(req({path: '/legacy/x'}), auth()))
console.log(p.evaluate(req({path: '/healthz', method: 'POST'}), auth({user: null})))
for (const t of ['apiVersion: x', 'a: [', '[]', 'apiVersion: authz-sidecar/v1\nkind: Policy\nmetadata: {name: a, service: b}\nspec:\n  defaultAction: DENY\n  rule: []\n']) { try { parsePolicy(t, 'p.yaml') } catch (e) { console.log(e.message) } }
