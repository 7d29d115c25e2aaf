/**
 * Token fuzzing: valid tokens of four issuers (ES256, RS256, EdDSA, HS256), mutated without
 * the key (must always be refused: any byte change ⇒ refused) and re-signed with the key
 * after a JSON edit (refused exactly when an independent reading of the claims says so).
 * Driven through the real authenticator (src/tokens/authenticate.ts) and real jose.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { importJWK } from 'jose';
import { issuerSchema, type IssuerConfig } from '../../src/config/schema.js';
import { KeyStore } from '../../src/keys/index.js';
import { buildRequestView, RequestError } from '../../src/request/index.js';
import { createAuthenticator, TokenError, type Authenticator } from '../../src/tokens/index.js';
import { signCompact, type SigningAlgorithm } from '../../testkit/hostile-tokens.js';
import { nodeKeyPair } from '../../testkit/key-pair.js';
import { tempDir } from '../../testkit/sidecar.js';
import { EXAMPLES } from '../../testkit/paths.js';
import { IDP_PRIVATE_JWK } from '../../testkit/tokens.js';

export const AUDIENCE = 'orders';
const SKEW = 30;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export interface TokenIssuer {
  readonly name: string;
  readonly alg: SigningAlgorithm | 'HS256';
  readonly issuer: string;
  readonly kid: string | undefined;
  readonly key: KeyObject | CryptoKey | Uint8Array;
  /** A valid token (two hours to live), and its header and payload JSON text. */
  readonly token: string;
  readonly headerJson: string;
  readonly payloadJson: string;
}

export interface TokenWorld {
  readonly issuers: readonly TokenIssuer[];
  readonly authenticator: Authenticator;
  readonly nowSeconds: number;
  /** 'accepted', or the TokenError/RequestError code it was refused with. Anything else thrown propagates. */
  authenticate(token: string): Promise<string>;
  close(): void;
}

/** Key files in a temp dir, one KeyStore per issuer, one authenticator (all on `authorization: Bearer`, routed by `iss`). */
export async function startTokenWorld(): Promise<TokenWorld> {
  const dir = tempDir();
  mkdirSync(join(dir, 'keys'));
  const nowSeconds = Math.floor(Date.now() / 1000);
  const rsa = nodeKeyPair('rsa', { modulusLength: 2048 });
  const ed = nodeKeyPair('ed25519');
  const secret = randomBytes(32);
  const jwks = (key: KeyObject, kid: string, alg: string) => JSON.stringify({ keys: [{ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' }] });
  writeFileSync(join(dir, 'keys', 'rs.jwks.json'), jwks(rsa.publicKey, 'rs-1', 'RS256'));
  writeFileSync(join(dir, 'keys', 'ed.jwks.json'), jwks(ed.publicKey, 'ed-1', 'EdDSA'));
  writeFileSync(join(dir, 'keys', 'hs.secret'), secret);
  const es = (await importJWK(IDP_PRIVATE_JWK, 'ES256', { extractable: true })) as CryptoKey;

  const specs = [
    { name: 'es', alg: 'ES256', issuer: 'https://es.example.test', kid: IDP_PRIVATE_JWK.kid!, key: es, keys: { file: `${EXAMPLES}/keys/idp.jwks.json` } },
    { name: 'rs', alg: 'RS256', issuer: 'https://rs.example.test', kid: 'rs-1', key: rsa.privateKey, keys: { file: join(dir, 'keys', 'rs.jwks.json') } },
    { name: 'ed', alg: 'EdDSA', issuer: 'https://ed.example.test', kid: 'ed-1', key: ed.privateKey, keys: { file: join(dir, 'keys', 'ed.jwks.json') } },
    { name: 'hs', alg: 'HS256', issuer: 'https://hs.example.test', kid: undefined, key: secret, keys: { secretFile: join(dir, 'keys', 'hs.secret') } },
  ] as const;
  const configs: IssuerConfig[] = specs.map((s) =>
    issuerSchema.parse({ name: s.name, issuer: s.issuer, audiences: [AUDIENCE], algorithms: [s.alg], keys: s.keys, clockSkewSeconds: SKEW }),
  );
  const stores = new Map(configs.map((c) => [c.name, new KeyStore({ name: c.name, source: c.keys!, algorithms: c.algorithms, pollIntervalMs: 3_600_000 })]));
  await Promise.all([...stores.values()].map((s) => s.start()));
  const authenticator = createAuthenticator({ issuers: configs, service: AUDIENCE, keyStores: { issuers: stores }, cacheMaxEntries: 1000 });

  const issuers: TokenIssuer[] = specs.map((s) => {
    const headerJson = JSON.stringify(s.kid === undefined ? { alg: s.alg, typ: 'JWT' } : { alg: s.alg, kid: s.kid, typ: 'JWT' });
    const payloadJson = JSON.stringify({
      iss: s.issuer,
      aud: AUDIENCE,
      sub: 'user-1',
      iat: nowSeconds - 10,
      exp: nowSeconds + 7200,
      jti: `jti-${s.name}`,
      scope: 'orders:read',
    });
    return {
      name: s.name,
      alg: s.alg,
      issuer: s.issuer,
      kid: s.kid,
      key: s.key,
      token: signCompact(s.alg, s.key, headerJson, payloadJson),
      headerJson,
      payloadJson,
    };
  });

  async function authenticate(token: string): Promise<string> {
    try {
      const view = buildRequestView({
        attributes: { request: { http: { id: '1', method: 'GET', path: '/', host: 'h', headers: { authorization: `Bearer ${token}` } } } },
      });
      const auth = await authenticator.authenticate(view);
      return auth.user !== null ? 'accepted' : 'anonymous';
    } catch (error) {
      if (error instanceof TokenError || error instanceof RequestError) return error.code;
      throw error;
    }
  }

  for (const issuer of issuers) {
    const outcome = await authenticate(issuer.token);
    if (outcome !== 'accepted') throw new Error(`token world: the valid ${issuer.alg} token is refused (${outcome})`);
  }
  return {
    issuers,
    authenticator,
    nowSeconds,
    authenticate,
    close: () => {
      authenticator.stop();
      for (const store of stores.values()) store.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Mutations without the key.

export type ByteMutation =
  | { kind: 'flip-bit'; segment: number; index: number; bit: number }
  | { kind: 'flip-char-bit'; index: number; bit: number }
  | { kind: 'set-char'; index: number; char: string }
  | { kind: 'insert'; index: number; text: string }
  | { kind: 'delete'; index: number; length: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'append'; text: string }
  | { kind: 'segments'; order: number[] }
  | { kind: 'splice'; segment: number; from: number }
  | { kind: 'non-canonical'; segment: number; delta: number }
  | { kind: 'padding'; segment: number; pad: string }
  | { kind: 'standard-base64'; segment: number }
  | { kind: 'toggle-case'; index: number }
  | { kind: 'json'; segment: number; edit: JsonEdit }
  | { kind: 'length'; segment: number; size: number };

const oddText = fc.oneof(
  fc.constantFrom(
    '=',
    '==',
    ' ',
    '\t',
    '\n',
    '\r\n',
    '.',
    '..',
    'A',
    'AA',
    '+',
    '/',
    '%3D',
    '\u0000',
    '\u00a0',
    '\u200b',
    '\ufeff',
    ',',
    ';',
    '"',
    'é',
    '\ud800',
  ),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 8 }),
);

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip-bit' as const), segment: fc.nat(2), index: fc.nat(), bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip-char-bit' as const), index: fc.nat(), bit: fc.nat(6) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('set-char' as const), index: fc.nat(), char: fc.oneof(fc.constantFrom(...B64URL.split('')), oddText) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), index: fc.nat(), text: oddText }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), index: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('append' as const), text: oddText }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('segments' as const), order: fc.array(fc.nat(2), { minLength: 0, maxLength: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('splice' as const), segment: fc.nat(2), from: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('non-canonical' as const), segment: fc.nat(2), delta: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('padding' as const), segment: fc.nat(2), pad: fc.constantFrom('=', '==', '===', '%3D') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('standard-base64' as const), segment: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('toggle-case' as const), index: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('json' as const), segment: fc.nat(1), edit: fc.constant(null).chain(() => jsonEdit) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('length' as const), segment: fc.nat(2), size: fc.oneof(fc.nat(300), fc.integer({ min: 8000, max: 70_000 })) }),
  },
);

const decode = (segment: string): Buffer => Buffer.from(segment, 'base64url');
const encode = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

/** `token` with mutation `m` applied; `others` are valid tokens to splice segments from. */
export function applyByteMutation(token: string, m: ByteMutation, others: readonly string[]): string {
  const parts = token.split('.');
  // Segment edits on a token that lost that segment (after an earlier truncation) edit the last one.
  if ('segment' in m && m.segment >= parts.length) m = { ...m, segment: parts.length - 1 };
  const at = (index: number, length: number) => (length === 0 ? 0 : index % length);
  const withSegment = (segment: number, value: string) => parts.map((p, i) => (i === segment ? value : p)).join('.');
  switch (m.kind) {
    case 'flip-bit': {
      const bytes = decode(parts[m.segment]);
      if (bytes.length === 0) return token;
      bytes[at(m.index, bytes.length)] ^= 1 << m.bit;
      return withSegment(m.segment, encode(bytes));
    }
    case 'flip-char-bit': {
      const i = at(m.index, token.length);
      return token.slice(0, i) + String.fromCharCode(token.charCodeAt(i) ^ (1 << m.bit)) + token.slice(i + 1);
    }
    case 'set-char': {
      const i = at(m.index, token.length);
      return token.slice(0, i) + m.char + token.slice(i + 1);
    }
    case 'insert': {
      const i = at(m.index, token.length + 1);
      return token.slice(0, i) + m.text + token.slice(i);
    }
    case 'delete': {
      const i = at(m.index, token.length);
      return token.slice(0, i) + token.slice(i + m.length);
    }
    case 'truncate':
      return token.slice(0, at(m.keep, token.length));
    case 'append':
      return token + m.text;
    case 'segments':
      return m.order.map((i) => parts[i]).join('.');
    case 'splice': {
      const other = others[at(m.from, others.length)].split('.');
      return withSegment(m.segment, other[m.segment]);
    }
    case 'non-canonical': {
      // The last character of a segment whose length is not a multiple of 4 carries unused
      // low bits; changing only those gives another spelling of the same bytes.
      const segment = parts[m.segment];
      const unused = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0;
      if (unused === 0) return withSegment(m.segment, `${segment}=`);
      const last = B64URL.indexOf(segment[segment.length - 1]);
      const changed = (last & ~((1 << unused) - 1)) | ((m.delta % (1 << unused) || 1) ^ (last & ((1 << unused) - 1)));
      return withSegment(m.segment, segment.slice(0, -1) + B64URL[changed]);
    }
    case 'padding':
      return withSegment(m.segment, parts[m.segment] + m.pad);
    case 'standard-base64':
      return withSegment(m.segment, decode(parts[m.segment]).toString('base64'));
    case 'toggle-case': {
      const letters = [...token].map((c, i) => (/[A-Za-z]/.test(c) ? i : -1)).filter((i) => i >= 0);
      if (letters.length === 0) return token;
      const i = letters[at(m.index, letters.length)];
      const c = token[i];
      return token.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + token.slice(i + 1);
    }
    case 'json': {
      const json = decode(parts[m.segment]).toString('utf8');
      let edited: string;
      try {
        edited = applyJsonEdit(json, m.edit).text;
      } catch {
        return token; // an earlier mutation left no JSON object to edit
      }
      return withSegment(m.segment, encode(edited));
    }
    case 'length':
      return withSegment(m.segment, parts[m.segment] + 'A'.repeat(m.size));
  }
}

// ---------------------------------------------------------------------------------------------
// JSON edits (used both without the key and re-signed with it).

const MEMBERS = [
  'alg',
  'kid',
  'typ',
  'crit',
  'jku',
  'jwk',
  'x5u',
  'x5c',
  'b64',
  'cty',
  'exp',
  'nbf',
  'iat',
  'iss',
  'aud',
  'sub',
  'jti',
  'scope',
  'scp',
  'zz',
] as const;
type Member = (typeof MEMBERS)[number];

export type JsonEdit =
  | { op: 'duplicate'; member: Member; value: string }
  | { op: 'escape-name'; member: Member }
  | { op: 'set'; member: Member; value: string }
  | { op: 'delete'; member: Member }
  | { op: 'nest'; depth: number }
  | { op: 'bom' }
  | { op: 'whitespace'; ws: string }
  | { op: 'trailing'; text: string }
  | { op: 'raw'; text: string };

/** JSON value text: types a claim should not have, extremes, escapes. */
const jsonValueText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '1e400',
    '-1e400',
    '1'.repeat(400),
    '0.1',
    '-1',
    '0',
    '1e21',
    '9007199254740993',
    '1.5',
    'null',
    'true',
    'false',
    '""',
    '[]',
    '{}',
    '[null]',
    '["orders"]',
    '["orders",5]',
    '["orders",""]',
    '"ES256"',
    '"RS256"',
    '"EdDSA"',
    '"HS256"',
    '"none"',
    '"None"',
    '"es256"',
    '"ES256 "',
    '"\\u0045S256"',
    '"orders"',
    '"\\u006frders"',
    '"orders\\u0000"',
    '"https://es.example.test"',
    '"https://es.example.test/"',
    '"JWT"',
    '"at+jwt"',
    '["exp"]',
    '"idp-dev-1"',
    '"rs-1"',
    '"\\ud800"',
    '"' + 'k'.repeat(300) + '"',
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true }).map((d) => JSON.stringify(d)),
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
);

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate' as const), member: fc.constantFrom(...MEMBERS), value: jsonValueText }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('escape-name' as const), member: fc.constantFrom(...MEMBERS) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), member: fc.constantFrom(...MEMBERS), value: jsonValueText }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), member: fc.constantFrom(...MEMBERS) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('nest' as const), depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1000, max: 20_000 })) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bom' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('whitespace' as const), ws: fc.constantFrom(' ', '\n', '\t', '\r\n', '  ') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('trailing' as const), text: fc.constantFrom('x', ',', '}', ']', '\u0000', ' {}', '{"a":1}', '//') }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('raw' as const),
      text: fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? ''),
      ),
    }),
  },
);

export interface EditedJson {
  readonly text: string;
  /** Set when the edit itself makes the JSON unacceptable whatever the values (duplicates, BOM-less garbage, depth). */
  readonly structural: 'duplicate' | 'too_deep' | null;
}

const escapeName = (name: string) => [...name].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

/** Applies an edit to JSON object text (member edits by text, so duplicates and escapes survive). */
export function applyJsonEdit(json: string, edit: JsonEdit): EditedJson {
  const object = JSON.parse(json) as Record<string, unknown>;
  if (typeof object !== 'object' || object === null || Array.isArray(object)) throw new TypeError('not a JSON object');
  const members = Object.entries(object).map(([k, v]) => [JSON.stringify(k), JSON.stringify(v)] as [string, string]);
  const render = (list: Array<[string, string]>) => `{${list.map(([k, v]) => `${k}:${v}`).join(',')}}`;
  const name = JSON.stringify(
    edit.op === 'nest' || edit.op === 'bom' || edit.op === 'whitespace' || edit.op === 'trailing' || edit.op === 'raw' ? '' : edit.member,
  );
  switch (edit.op) {
    case 'duplicate': {
      const has = Object.hasOwn(object, edit.member);
      return { text: render([[name, edit.value], ...members]), structural: has ? 'duplicate' : null };
    }
    case 'escape-name':
      return { text: render(members.map(([k, v]) => [k === name ? `"${escapeName(edit.member)}"` : k, v])), structural: null };
    case 'set': {
      const has = members.some(([k]) => k === name);
      return { text: render(has ? members.map(([k, v]) => [k, k === name ? edit.value : v]) : [...members, [name, edit.value]]), structural: null };
    }
    case 'delete':
      return { text: render(members.filter(([k]) => k !== name)), structural: null };
    case 'nest':
      return { text: render([...members, ['"deep"', '['.repeat(edit.depth) + ']'.repeat(edit.depth)]]), structural: edit.depth + 1 > 32 ? 'too_deep' : null };
    case 'bom':
      return { text: `\ufeff${json}`, structural: null };
    case 'whitespace':
      return {
        text: `${edit.ws}{${edit.ws}${members.map(([k, v]) => `${k}${edit.ws}:${edit.ws}${v}`).join(`${edit.ws},${edit.ws}`)}${edit.ws}}${edit.ws}`,
        structural: null,
      };
    case 'trailing':
      return { text: json + edit.text, structural: null };
    case 'raw':
      return { text: edit.text, structural: null };
  }
}

/** The valid token of `issuer` after an edit of its header (segment 0) or payload (1), re-signed with its key. */
export function resign(issuer: TokenIssuer, segment: number, edit: JsonEdit): { token: string; edited: EditedJson } {
  const edited = applyJsonEdit(segment === 0 ? issuer.headerJson : issuer.payloadJson, edit);
  const header = segment === 0 ? edited.text : issuer.headerJson;
  const payload = segment === 1 ? edited.text : issuer.payloadJson;
  // Signing needs the header's alg to pick the algorithm: always the issuer's own.
  return { token: signCompact(issuer.alg, issuer.key, header, payload), edited };
}

/**
 * Whether a token signed by `issuer`'s own key, with this header and payload text, must be
 * refused — read from the JOSE/JWT specs and the sidecar's documented rules, independently
 * of src/tokens. 'either' where the rules leave room (a BOM a lenient decoder strips).
 */
export function expectedForSigned(
  issuer: TokenIssuer,
  headerText: string,
  payloadText: string,
  structural: EditedJson['structural'],
  nowSeconds: number,
): 'refuse' | 'accept' | 'either' {
  if (structural !== null) return 'refuse';
  let bom = false;
  const parse = (text: string): Record<string, unknown> | null => {
    if (text.startsWith('\ufeff')) bom = true;
    try {
      const value = JSON.parse(text.replace(/^\ufeff/, '')) as unknown;
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const header = parse(headerText);
  const payload = parse(payloadText);
  if (header === null || payload === null) return 'refuse';
  if (depth(header) > 32 || depth(payload) > 32) return 'refuse';
  const refuse = refusal(issuer, header, payload, nowSeconds);
  if (refuse) return 'refuse';
  return bom ? 'either' : 'accept';
}

function depth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depth));
}

function refusal(issuer: TokenIssuer, h: Record<string, unknown>, p: Record<string, unknown>, now: number): boolean {
  const has = (o: Record<string, unknown>, k: string) => Object.hasOwn(o, k);
  if (['jku', 'jwk', 'x5u', 'x5c', 'b64', 'crit'].some((m) => has(h, m))) return true;
  if (h.alg !== issuer.alg) return true;
  if (has(h, 'kid') && h.kid !== issuer.kid) return true;
  if (has(h, 'typ') && typeof h.typ !== 'string') return true;
  if (p.iss !== issuer.issuer) return true;
  const aud = p.aud;
  const audOk = aud === AUDIENCE || (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string' && a !== '') && aud.includes(AUDIENCE));
  if (!audOk) return true;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!num(p.exp) || (p.exp as number) <= now - SKEW) return true;
  if (has(p, 'nbf') && (typeof p.nbf !== 'number' || p.nbf > now + SKEW)) return true;
  if (has(p, 'iat') && (!num(p.iat) || (p.iat as number) > now + SKEW)) return true;
  for (const claim of ['sub', 'jti']) if (has(p, claim) && typeof p[claim] !== 'string') return true;
  if (has(p, 'scope') && typeof p.scope !== 'string') return true;
  if (!has(p, 'scope') && has(p, 'scp') && !(typeof p.scp === 'string' || (Array.isArray(p.scp) && p.scp.every((s) => typeof s === 'string')))) return true;
  return false;
}
