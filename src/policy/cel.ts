/**
 * # CEL in `when`
 *
 * Variables (field names are checked at load: `request.metod` is an error):
 *
 * | variable | type | value |
 * | --- | --- | --- |
 * | `request.id` | string | request id (`x-request-id`, else Envoy's stream id) |
 * | `request.method` | string | method as sent (never with lower-case letters) |
 * | `request.host` | string | lower-case host, port as sent |
 * | `request.path` | string | normalised path, no query |
 * | `request.query` | map(string, string) | decoded query; a repeated key keeps its first value |
 * | `request.headers` | map(string, string) | lower-case names; repeated headers joined with "," |
 * | `request.params` | map(string, string) | the variables captured by the rule's path template (`{id}`, `{rest=**}`); {} when none |
 * | `request.auth.subject` | string | user token `sub`; "" when there is no user token |
 * | `request.auth.issuer` | string | user token `iss`; "" when none |
 * | `request.auth.claims` | map(string, dyn) | user token payload; {} when none |
 * | `request.auth.scopes` | list(string) | user token scopes; [] when none |
 * | `request.auth.roles` | list(string) | roles read via `rolesFrom` (user token, else service token) |
 * | `request.auth.principal` | string | caller SPIFFE id (service token, else mTLS peer); "" when none |
 * | `source.address` | string | downstream "ip:port"; "" when unknown |
 * | `source.principal` | string | downstream mTLS peer principal (URI SAN); "" when none |
 * | `context` | map(string, string) | Envoy per-route `context_extensions` |
 *
 * JSON numbers in claims that are integers (within ±2^53) are CEL `int`, others `double`,
 * so `request.auth.claims.exp > 5` and `request.auth.claims.exp - 60 > 5` both work.
 * Reading a missing map key (`request.headers["x-tenant"]`, `request.auth.claims.tenant`)
 * is an evaluation error, which fails closed (an ALLOW rule does not match, a DENY rule
 * does); test first with `has(request.auth.claims.tenant)` or `"x-tenant" in request.headers`.
 * `request.params` belongs to the rule being evaluated: the captures of the first of its
 * `to` entries that matches, and in it the first matching pattern (see rule.ts RuleParams).
 * Reading a name none of the rule's paths captures is a load error (compile.ts); a name only
 * some of them capture is missing, an evaluation error, when another one matched.
 * Limits: 4096 characters, 1000 AST nodes, depth 32, 256 list/map literal items, 16 call
 * arguments. `matches()` takes a literal RE2 pattern, compiled at load and matched in linear
 * time (cel-regex.ts).
 * No nested or chained comprehensions, `split` only with a literal limit (≤ 1000) and not
 * inside a comprehension, no `json()` (cel-bounds.ts): cel-js has no evaluation cost limit.
 * There is no clock: evaluation is a pure function of the request and its credentials.
 */
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import type { RequestView } from '../request/index.js';
import type { AuthContext } from '../tokens/index.js';
import { unboundedCostIn } from './cel-bounds.js';
import { astChildren, RE2_FIND, re2Find, regexCallsIn, renameMatchesCalls, type RegexCall } from './cel-regex.js';

export const CEL_LIMITS = {
  maxAstNodes: 1000,
  maxDepth: 32,
  maxListElements: 256,
  maxMapEntries: 256,
  maxCallArguments: 16,
} as const;

class CelAuth {
  constructor(
    readonly subject: string,
    readonly issuer: string,
    readonly claims: Readonly<Record<string, unknown>>,
    readonly scopes: readonly string[],
    readonly roles: readonly string[],
    readonly principal: string,
  ) {}
}

/**
 * `request`: each field read from the view when the expression reads it, so a condition that
 * never reads `request.query` does not make the view parse the query string.
 */
class CelRequest {
  readonly #view: RequestView;
  #paramsSource: ParamsSource | null = null;
  #params: Readonly<Record<string, string>> | undefined;

  constructor(
    view: RequestView,
    readonly auth: CelAuth,
  ) {
    this.#view = view;
  }

  get id(): string {
    return this.#view.id;
  }
  get method(): string {
    return this.#view.method;
  }
  get host(): string {
    return this.#view.host;
  }
  get path(): string {
    return this.#view.path;
  }
  get query(): Readonly<Record<string, string>> {
    return this.#view.query;
  }
  get headers(): Readonly<Record<string, string>> {
    return this.#view.headers;
  }
  get params(): Readonly<Record<string, string>> {
    this.#params ??= this.#paramsSource === null ? NO_PARAMS : this.#paramsSource.paramsOf(this.#view);
    return this.#params;
  }

  /** Makes `params` the captures of `source`'s rule, computed when first read. */
  useParams(source: ParamsSource | null): void {
    if (source === this.#paramsSource) return;
    this.#paramsSource = source;
    this.#params = undefined;
  }
}

/** Where a rule's `request.params` come from (rule.ts), asked only when a condition reads them. */
export interface ParamsSource {
  paramsOf(request: RequestView): Readonly<Record<string, string>>;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

/** `source`, read from the view on demand (formatting the address costs a string). */
class CelSource {
  readonly #view: RequestView;

  constructor(view: RequestView) {
    this.#view = view;
  }

  get address(): string {
    return this.#view.sourceAddress;
  }
  get principal(): string {
    return this.#view.sourcePrincipal;
  }
}

/** The variables of one evaluation, built at most once per Check. */
export interface CelActivation {
  readonly request: CelRequest;
  readonly source: CelSource;
  readonly context: Readonly<Record<string, string>>;
  /** Sets where `request.params` comes from for the conditions evaluated next (the rule's). */
  useParams(source: ParamsSource | null): void;
}

let environment: Environment | undefined;
let re2Environment: Environment | undefined;

/** Built on first use: creating an Environment is costly, and not every policy has `when`. */
function celEnvironment(): Environment {
  environment ??= new Environment({ limits: CEL_LIMITS })
    .registerType('authz.Auth', {
      ctor: CelAuth,
      fields: {
        subject: 'string',
        issuer: 'string',
        claims: 'map<string, dyn>',
        scopes: 'list<string>',
        roles: 'list<string>',
        principal: 'string',
      },
    })
    .registerType('authz.Request', {
      ctor: CelRequest,
      fields: {
        id: 'string',
        method: 'string',
        host: 'string',
        path: 'string',
        query: 'map<string, string>',
        headers: 'map<string, string>',
        params: 'map<string, string>',
        auth: 'authz.Auth',
      },
    })
    .registerType('authz.Source', { ctor: CelSource, fields: { address: 'string', principal: 'string' } })
    .registerVariable('request', 'authz.Request')
    .registerVariable('source', 'authz.Source')
    .registerVariable('context', 'map<string, string>');
  return environment;
}

/** The environment conditions are checked in, plus `re2find` for the renamed `matches` calls. */
function celRe2Environment(): Environment {
  re2Environment ??= celEnvironment().clone().registerFunction(`string.${RE2_FIND}(string): bool`, re2Find);
  return re2Environment;
}

/** A `when` expression that cannot be used; the message is one line. */
export class ConditionError extends Error {
  override readonly name = 'ConditionError';
}

export interface CompiledCondition {
  readonly source: string;
  /** Whether it reads anything about the caller: `request.auth` or `source.principal`. */
  readonly readsIdentity: boolean;
  /** Whether it may read `request.params` (so the rule's captures must be made available). */
  readonly readsParams: boolean;
  /**
   * The names it reads as `request.params.x`, `request.params["x"]` or `"x" in request.params`;
   * null when it never names `request.params` (it may still reach it through `request` used whole).
   */
  readonly paramNames: ReadonlySet<string> | null;
  /** true/false, or the Error (evaluation error, non-bool result) the caller fails closed on. */
  evaluate(activation: CelActivation): boolean | Error;
}

/** Parses and type-checks `source`; throws ConditionError. */
export function compileCondition(source: string): CompiledCondition {
  let program: Program;
  try {
    program = celEnvironment().parse(source);
  } catch (error) {
    throw new ConditionError(describe(error));
  }
  const checked = program.check();
  if (!checked.valid) throw new ConditionError(describe(checked.error));
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionError(`must evaluate to bool, not ${checked.type}`);
  }
  const regexes = regexCallsIn(program.ast);
  if (typeof regexes === 'string') throw new ConditionError(regexes);
  const unbounded = unboundedCostIn(program.ast);
  if (unbounded !== null) throw new ConditionError(unbounded);
  const params = paramsRead(program.ast);
  return new Condition(
    source,
    regexes.length === 0 ? program : re2Program(source, regexes),
    regexes.map((call) => call.regex),
    readsIdentity(program.ast),
    params.reads,
    params.named ? params.names : null,
  );
}

/**
 * Whether the expression may read `request.params`, whether it names it, and which names it
 * reads by a constant: `request.params.x`, `request.params["x"]`, `"x" in request.params`,
 * `has(…)` of the first. Reading it any other way (an index computed at run time, the whole
 * map) adds no name; `request` used other than as `request.<field>` may read it.
 */
function paramsRead(ast: ASTNode): { reads: boolean; named: boolean; names: Set<string> } {
  let reads = false;
  let named = false;
  const names = new Set<string>();
  const isParams = (node: ASTNode): boolean => {
    const access = variableField(node);
    return access?.variable === 'request' && access.field === 'params';
  };
  const visit = (node: ASTNode): void => {
    if (isParams(node)) {
      reads = named = true;
      return;
    }
    if (node.op === 'id' && node.args === 'request') {
      reads = true;
      return;
    }
    if (variableField(node)?.variable === 'request') return;
    if (node.op === '.' && isParams(node.args[0])) {
      names.add(node.args[1]);
    } else if (node.op === '[]' && isParams(node.args[0])) {
      const key = node.args[1];
      if (key.op === 'value' && typeof key.args === 'string') names.add(key.args);
    } else if (node.op === 'in' && isParams(node.args[1])) {
      const key = node.args[0];
      if (key.op === 'value' && typeof key.args === 'string') names.add(key.args);
    }
    for (const child of astChildren(node)) visit(child);
  };
  visit(ast);
  return { reads, named, names };
}

/** The field of each top-level variable that holds the caller's identity. */
const IDENTITY_FIELDS: Readonly<Record<string, string>> = { request: 'auth', source: 'principal' };

/**
 * Whether the expression reads the caller's identity. `request.auth…` and `source.principal`
 * do; other fields of `request` and `source` do not. `request` or `source` used any other way
 * (indexed, compared whole) counts as reading it.
 */
function readsIdentity(node: ASTNode): boolean {
  const access = variableField(node);
  if (access !== null && access.variable in IDENTITY_FIELDS) return IDENTITY_FIELDS[access.variable] === access.field;
  if (node.op === 'id') return typeof node.args === 'string' && node.args in IDENTITY_FIELDS;
  return astChildren(node).some(readsIdentity);
}

/** `variable.field` when `node` is a field of a top-level variable (`request.path`), else null. */
function variableField(node: ASTNode): { variable: string; field: string } | null {
  if (node.op !== '.') return null;
  const [target, field] = node.args;
  return target.op === 'id' && typeof target.args === 'string' ? { variable: target.args, field } : null;
}

type Program = ReturnType<Environment['parse']>;

/**
 * The program to evaluate for a checked `source` whose `matches` calls are `calls`: the same
 * expression with those calls renamed to `re2find`, so no `matches` of cel-js runs. Throws a
 * ConditionError if the renamed text is not that (a bug here; the policy is refused).
 */
function re2Program(source: string, calls: readonly RegexCall[]): Program {
  try {
    const program = celRe2Environment().parse(renameMatchesCalls(source, calls));
    const methods = methodNames(program.ast);
    if (!program.check().valid || methods.get(RE2_FIND) !== calls.length || methods.has('matches')) throw new Error('renamed program differs');
    return program;
  } catch (error) {
    throw new ConditionError(`matches(): cannot prepare the condition for RE2 (${error instanceof Error ? error.message : String(error)})`);
  }
}

function methodNames(ast: ASTNode, counts = new Map<string, number>()): Map<string, number> {
  if (ast.op === 'rcall') counts.set(ast.args[0], (counts.get(ast.args[0]) ?? 0) + 1);
  for (const child of astChildren(ast)) methodNames(child, counts);
  return counts;
}

class Condition implements CompiledCondition {
  readonly #program: Program;
  /** Holds the compiled patterns, which cel-regex.ts's shared table refers to only weakly. */
  readonly #regexes: ReadonlyArray<RegexCall['regex']>;

  constructor(
    readonly source: string,
    program: Program,
    regexes: ReadonlyArray<RegexCall['regex']>,
    readonly readsIdentity: boolean,
    readonly readsParams: boolean,
    readonly paramNames: ReadonlySet<string> | null,
  ) {
    this.#program = program;
    this.#regexes = regexes;
  }

  evaluate(activation: CelActivation): boolean | Error {
    try {
      const value: unknown = this.#program(activation);
      return typeof value === 'boolean' ? value : new ConditionError(`result is not a bool`);
    } catch (error) {
      if (!(error instanceof Error)) return new ConditionError(String(error));
      // Same length as `matches`, so positions in the message hold; only the name is put back.
      if (this.#regexes.length > 0) error.message = error.message.replaceAll(RE2_FIND, 'matches');
      return error;
    }
  }
}

/** Why `source` cannot be a `when` expression, or null (for the schema; compiles and discards). */
export function conditionError(source: string): string | null {
  try {
    compileCondition(source);
    return null;
  } catch (error) {
    if (error instanceof ConditionError) return error.message;
    throw error;
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const detail = error as Error & { summary?: string; range?: { start: number } };
  const summary = (detail.summary ?? error.message).replace(/\s*\n[\s\S]*$/, '');
  return detail.range ? `${summary} (at character ${detail.range.start + 1})` : summary;
}

/** The variables of one evaluation; `context` (Envoy's context extensions) too is read only if used. */
class Activation implements CelActivation {
  readonly #view: RequestView;

  constructor(
    view: RequestView,
    readonly request: CelRequest,
    readonly source: CelSource,
  ) {
    this.#view = view;
  }

  get context(): Readonly<Record<string, string>> {
    return this.#view.contextExtensions;
  }

  useParams(source: ParamsSource | null): void {
    this.request.useParams(source);
  }
}

export function buildActivation(request: RequestView, auth: AuthContext, roles: readonly string[]): CelActivation {
  const user = auth.user;
  const celAuth = new CelAuth(user?.subject ?? '', user?.issuer ?? '', user ? celClaims(user.claims) : EMPTY, user?.scopes ?? [], roles, auth.principal ?? '');
  return new Activation(request, new CelRequest(request, celAuth), new CelSource(request));
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/** Claims objects are frozen and shared by the verified-token cache, so convert each once. */
const converted = new WeakMap<object, Readonly<Record<string, unknown>>>();

function celClaims(claims: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  let out = converted.get(claims);
  if (out === undefined) {
    out = toCel(claims) as Readonly<Record<string, unknown>>;
    converted.set(claims, out);
  }
  return out;
}

/** JSON → CEL values: integral numbers become BigInt (CEL `int`). */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return Object.freeze(value.map(toCel));
  if (value !== null && typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [key, item] of Object.entries(value)) out[key] = toCel(item);
    return Object.freeze(out);
  }
  return value;
}
