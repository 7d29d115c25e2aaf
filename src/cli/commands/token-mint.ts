/** `authzctl token mint`: sign a development JWT with a local private JWK. */
import { randomUUID } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { parseClaims } from '../claims.js';
import { loadSigningKey } from '../signing-key.js';
import { parseDuration } from '../values.js';

const help = `Usage: authzctl token mint --key FILE [options]

Signs a development JWT with a local private JWK and prints only the token, so
TOKEN=$(authzctl token mint ...) works.

Options:
  --key FILE          private JWK (JSON with "d"); its "kid" and "alg" are used
  --alg ALG           signing algorithm (default: the key's "alg", else implied by the key, else ES256)
  --kid KID           key id header (default: the key's "kid")
  --typ TYP           "typ" header, e.g. at+jwt (default: none)
  --iss URL           issuer (default https://idp.example.test)
  --sub SUBJECT       subject (default dev-user; a SPIFFE id for service tokens)
  --aud AUD           audience; repeat for several (default orders)
  --scope "a b"       the "scope" claim (space-separated)
  --roles r1,r2       the "roles" claim (an array)
  --claim k=v         any claim; repeatable. v is JSON when it parses (3, true, ["a"]),
                      else a string; dotted keys nest (realm.roles='["a"]')
  --ttl DURATION      lifetime from now: 90, 30s, 15m, 2h, 1d (default 15m)
  --exp-in DURATION   exp relative to now, may be negative (an already expired token);
                      overrides --ttl
  --nbf DURATION      nbf relative to now (e.g. 60 = valid in a minute; --nbf=-30)
  --jti ID            token id (default: a random UUID)
  -h, --help          show this help

Claims given with --claim override the ones above (including iss, exp, ...).

Examples:
  authzctl token mint --key deploy/examples/keys/idp-dev-1.private.jwk.json \\
    --sub alice --scope "orders:read" --roles customer --claim tenant=acme
  authzctl token mint --key deploy/examples/keys/mesh-dev-1.private.jwk.json \\
    --sub spiffe://cluster.local/ns/shop/sa/checkout --aud orders
  authzctl token mint --key deploy/examples/keys/idp-dev-1.private.jwk.json --exp-in -1m`;

const OPTIONS = {
  key: { type: 'string' },
  alg: { type: 'string' },
  kid: { type: 'string' },
  typ: { type: 'string' },
  iss: { type: 'string', default: 'https://idp.example.test' },
  sub: { type: 'string', default: 'dev-user' },
  aud: { type: 'string', multiple: true },
  scope: { type: 'string' },
  roles: { type: 'string' },
  claim: { type: 'string', multiple: true, default: [] as string[] },
  ttl: { type: 'string', default: '15m' },
  'exp-in': { type: 'string' },
  nbf: { type: 'string' },
  jti: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>['values'];

/** The payload from the options; `now` in epoch seconds. Pure, for tests. */
export function buildPayload(values: Values, now: number): JWTPayload {
  const ttl = parseDuration(values.ttl, '--ttl');
  if (ttl <= 0) throw new UsageError('--ttl: must be positive (use --exp-in for an expired token)');
  const expIn = values['exp-in'] === undefined ? ttl : parseDuration(values['exp-in'], '--exp-in');
  const aud = values.aud ?? ['orders'];
  const payload: JWTPayload = {
    iss: values.iss,
    sub: values.sub,
    aud: aud.length === 1 ? aud[0] : aud,
    iat: now,
    exp: now + expIn,
    jti: values.jti ?? randomUUID(),
  };
  if (values.nbf !== undefined) payload.nbf = now + parseDuration(values.nbf, '--nbf');
  if (values.scope !== undefined) payload.scope = values.scope;
  if (values.roles !== undefined)
    payload.roles = values.roles
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
  return { ...payload, ...parseClaims(values.claim) };
}

const command: Command = {
  name: 'token mint',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.key === undefined) throw new UsageError('--key FILE is required (a private JWK, e.g. deploy/examples/keys/idp-dev-1.private.jwk.json)');
    const payload = buildPayload(values, Math.floor(Date.now() / 1000));
    const signing = await loadSigningKey(values.key, { alg: values.alg, kid: values.kid });
    const header: { alg: string; kid?: string; typ?: string } = { alg: signing.alg };
    if (signing.kid !== undefined) header.kid = signing.kid;
    if (values.typ !== undefined) header.typ = values.typ;
    const token = await new SignJWT(payload).setProtectedHeader(header).sign(signing.key);
    output.out(token);
    return EXIT.OK;
  },
};

export default command;
