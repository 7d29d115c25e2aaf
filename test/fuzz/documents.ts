/**
 * Policy and config document fuzzing: the example documents and test fixtures, mutated as
 * data (values of other types and extremes, deleted, renamed and unknown keys, deep nesting)
 * and as text (YAML specials, anchors and aliases, broken quoting, control characters), fed to
 * the real loaders. Either the document loads, or it is refused with the documented one-line
 * `FILE[:LINE:COLUMN]: FIELD: REASON` DocumentError — never another error, never a second line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { DocumentError, parseConfig } from '../../src/config/index.js';
import { compilePolicyText } from '../../src/policy/index.js';
import { EXAMPLES, FIXTURES } from '../../testkit/paths.js';

const read = (path: string) => readFileSync(path, 'utf8');
const listed = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .map((f) => read(`${dir}/${f}`));

export const POLICY_SEEDS: readonly string[] = [
  read(`${EXAMPLES}/policy.yaml`),
  read(`${FIXTURES}/conformance/policy.yaml`),
  ...listed(`${FIXTURES}/policies`),
];
export const CONFIG_SEEDS: readonly string[] = [read(`${EXAMPLES}/config.yaml`), ...listed(`${FIXTURES}/config`)];

/** Characters that end a line somewhere: a terminal, a log viewer, a JSON-lines reader. */
const LINE_BREAK = /[\n\r\u000b\u000c\u0085\u2028\u2029]/;

/** Per-case time bound: far above any real document (a hang or blow-up, not a slow machine). */
export const DOCUMENT_TIME_LIMIT_MS = 5_000;

/** `syntax`: the text did not parse (no field, a position). */
export type Outcome = { loaded: true } | { loaded: false; field: string; reason: string; syntax: boolean };

/**
 * Runs `load`, then checks the contract: returns, or throws a DocumentError whose message is
 * exactly `FILE[:LINE:COLUMN]: FIELD: REASON` on one line (FIELD as shown: a rule's field with its
 * name), within the time bound. Throws otherwise.
 */
export function checkDocumentContract(file: string, load: () => unknown): Outcome {
  const started = performance.now();
  let outcome: Outcome;
  try {
    load();
    outcome = { loaded: true };
  } catch (error) {
    if (!(error instanceof DocumentError))
      throw new Error(`not a DocumentError: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`.slice(0, 500), { cause: error });
    const { message, field, shownField, reason, line, column } = error;
    if (LINE_BREAK.test(message)) throw new Error(`error message is not one line: ${JSON.stringify(message).slice(0, 300)}`, { cause: error });
    if (
      (line === undefined) !== (column === undefined) ||
      (line !== undefined && !(Number.isInteger(line) && line >= 1 && Number.isInteger(column) && column! >= 1))
    )
      throw new Error(`error position is not a line and a column from 1: ${line}:${column}`, { cause: error });
    if (!shownField.startsWith(field.replace(/^(spec\.rules\[\d+\]).*$/, '$1')))
      throw new Error(`error shows another field than ${JSON.stringify(field)}: ${JSON.stringify(shownField)}`, { cause: error });
    const at = line === undefined ? '' : `:${line}:${column}`;
    if (message !== `${file}${at}: ${shownField || '(document)'}: ${reason}`)
      throw new Error(`error message is not "FILE[:LINE:COLUMN]: FIELD: REASON": ${JSON.stringify(message).slice(0, 300)}`, { cause: error });
    if (reason.trim() === '') throw new Error(`error without a reason: ${JSON.stringify(message).slice(0, 300)}`, { cause: error });
    outcome = { loaded: false, field, reason, syntax: field === '' && line !== undefined };
  }
  const elapsed = performance.now() - started;
  if (elapsed > DOCUMENT_TIME_LIMIT_MS) throw new Error(`took ${Math.round(elapsed)} ms`);
  return outcome;
}

export const loadPolicy = (text: string) => checkDocumentContract('fuzz-policy.yaml', () => compilePolicyText(text, 'fuzz-policy.yaml', { service: 'orders' }));
export const loadConfigText = (text: string) => checkDocumentContract('/tmp/fuzz/config.yaml', () => parseConfig(text, '/tmp/fuzz/config.yaml'));

// ---------------------------------------------------------------------------------------------
// Mutations of a parsed document.

const CEL_FRAGMENTS = [
  'request.auth.claims.tenant',
  '==',
  'request.headers["x-tenant-id"]',
  '&&',
  '||',
  '!',
  '(',
  ')',
  'size(',
  '.matches(',
  '"(a+)+$"',
  '"[a-z]+"',
  '".*a.*b"',
  '"(?=x)"',
  'r"(a)\\1"',
  'r"\\p{L}{999}"',
  'request.path',
  'startsWith(',
  '"/x"',
  'true',
  'false',
  '1',
  '1.0',
  'null',
  'has(',
  'request.auth.claims',
  'in',
  '[1,2]',
  '{"a":1}',
  '.',
  'request',
  'int(',
  'timestamp(',
  '"\\u0000"',
  '?',
  ':',
  'dyn(',
  'request.query.x',
  'request.contextExtensions',
  'request.params.id',
  'request.params',
];

const specialValue = fc.oneof(
  fc.constantFrom<unknown>(
    '',
    ' ',
    '*',
    '/',
    '/**',
    '/a/*/b',
    '/v1/{id}/refund',
    '/a/{id}/{rest=**}',
    '/{a}/{a}',
    '/a/{id',
    '/a/{id}/*',
    '/public/*',
    '/..',
    '//',
    '/%2F',
    'GET',
    'get',
    'ALLOW',
    'DENY',
    'allow',
    'orders',
    'orders:*',
    'https://idp.example.test',
    'ES256',
    'none',
    'HS256',
    'x'.repeat(5000),
    '\u0000',
    'a\nb',
    'a\rb',
    '\u2028',
    'é',
    0,
    -1,
    1.5,
    2 ** 53 + 1,
    1e308,
    Number.MAX_SAFE_INTEGER,
    true,
    false,
    null,
    [],
    {},
    [null],
    { '': '' },
    ['*'],
    'true',
    'null',
    '0x10',
    '127.0.0.1:0',
    'localhost:99999',
    ':80',
    'http://example.com/jwks',
    'https://[::1]/x',
    'file:///etc/passwd',
  ),
  fc.array(fc.constantFrom(...CEL_FRAGMENTS), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(' ')),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer().map((n) => n),
);

const keyText = fc.oneof(
  fc.constantFrom(
    'name',
    'action',
    'to',
    'from',
    'paths',
    'methods',
    'hosts',
    'issuers',
    'principals',
    'require',
    'scopes',
    'permission',
    'when',
    'rules',
    'roles',
    'rolesFrom',
    'defaultAction',
    'spec',
    'metadata',
    'service',
    'keys',
    'file',
    'url',
    'secretFile',
    'nats',
    'audiences',
    'algorithms',
    'issuer',
    'policy',
    'grpc',
    'admin',
    'request',
    'maxHeaders',
    'rule',
    'Rules',
    'path',
    '__proto__',
    'constructor',
    '',
    ' ',
    'a\nb',
    'a\rb',
    'a\u2028b',
    'a\u0085b',
    'k\u001b[31m',
    '<<',
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);

export type DataEdit =
  | { op: 'replace'; node: number; value: unknown }
  | { op: 'delete'; node: number }
  | { op: 'rename'; node: number; key: string }
  | { op: 'add'; node: number; key: string; value: unknown }
  | { op: 'duplicate'; node: number }
  | { op: 'wrap'; node: number; asArray: boolean }
  | { op: 'nest'; node: number; depth: number };

export const dataEdits: fc.Arbitrary<DataEdit[]> = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('replace' as const), node: fc.nat(), value: specialValue }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), node: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('rename' as const), node: fc.nat(), key: keyText }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), node: fc.nat(), key: keyText, value: specialValue }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), node: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), node: fc.nat(), asArray: fc.boolean() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('nest' as const),
        node: fc.nat(),
        depth: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 200, max: 1000 })),
      }),
    },
  ),
  { minLength: 1, maxLength: 4 },
);

type Container = Record<string, unknown> | unknown[];
interface Slot {
  parent: Container;
  key: string | number;
}

/** Every value slot of the document, depth-first (the root itself is not a slot). */
function slots(root: unknown): Slot[] {
  const out: Slot[] = [];
  const walk = (value: unknown, depth: number) => {
    if (depth > 40 || typeof value !== 'object' || value === null) return;
    const container = value as Container;
    for (const key of Array.isArray(container) ? container.keys() : Object.keys(container)) {
      out.push({ parent: container, key });
      walk((container as Record<string | number, unknown>)[key], depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

const own = (object: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });

export function applyDataEdits(document: unknown, edits: readonly DataEdit[]): unknown {
  const root = structuredClone(document);
  for (const edit of edits) {
    const all = slots(root);
    if (all.length === 0) break;
    const { parent, key } = all[edit.node % all.length];
    const current = (parent as Record<string | number, unknown>)[key];
    const set = (value: unknown) => (Array.isArray(parent) ? (parent[key as number] = value) : own(parent, key as string, value));
    switch (edit.op) {
      case 'replace':
        set(structuredClone(edit.value));
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key as string];
        break;
      case 'rename':
        if (!Array.isArray(parent)) {
          delete parent[key as string];
          own(parent, edit.key, current);
        }
        break;
      case 'add':
        if (typeof current === 'object' && current !== null && !Array.isArray(current))
          own(current as Record<string, unknown>, edit.key, structuredClone(edit.value));
        else if (Array.isArray(current)) current.push(structuredClone(edit.value));
        break;
      case 'duplicate':
        if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(current));
        break;
      case 'wrap':
        set(edit.asArray ? [current] : { value: current });
        break;
      case 'nest': {
        let value: unknown = current;
        for (let i = 0; i < edit.depth; i++) value = i % 2 === 0 ? [value] : { n: value };
        set(value);
        break;
      }
    }
  }
  return root;
}

// ---------------------------------------------------------------------------------------------
// Mutations of the text.

const YAML_SPECIALS = [
  '&a ',
  '*a',
  '*b',
  '!!binary ',
  '!!str ',
  '!!js/function ',
  '!<tag:yaml.org,2002:int> ',
  '<<: *a\n',
  '\t',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '%TAG ! tag:x,2000:\n',
  '? ',
  '- ',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '#',
  ': ',
  ',',
  '|\n',
  '>-\n',
  '\\',
  '\u0000',
  '\u0085',
  '\u2028',
  '\ufeff',
  '\r',
  '\r\n',
  '\ud800',
  '~',
  'null',
  '0o17',
  '.inf',
  '.nan',
  '<<',
];

export type TextEdit =
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate-line'; line: number }
  | { op: 'drop-line'; line: number }
  | { op: 'indent'; line: number; by: string }
  | { op: 'bomb'; levels: number };

export const textEdits: fc.Arbitrary<TextEdit[]> = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('insert' as const),
        at: fc.nat(),
        text: fc.oneof(fc.constantFrom(...YAML_SPECIALS), fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 })),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate-line' as const), line: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('drop-line' as const), line: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('indent' as const), line: fc.nat(), by: fc.constantFrom(' ', '  ', '\t', '') }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('bomb' as const), levels: fc.integer({ min: 2, max: 12 }) }) },
  ),
  { minLength: 1, maxLength: 4 },
);

export function applyTextEdits(text: string, edits: readonly TextEdit[]): string {
  let out = text;
  for (const edit of edits) {
    const lines = out.split('\n');
    const line = (n: number) => n % Math.max(lines.length, 1);
    switch (edit.op) {
      case 'insert': {
        const at = edit.at % (out.length + 1);
        out = out.slice(0, at) + edit.text + out.slice(at);
        break;
      }
      case 'delete': {
        const at = edit.at % Math.max(out.length, 1);
        out = out.slice(0, at) + out.slice(at + edit.length);
        break;
      }
      case 'duplicate-line':
        lines.splice(line(edit.line), 0, lines[line(edit.line)] ?? '');
        out = lines.join('\n');
        break;
      case 'drop-line':
        lines.splice(line(edit.line), 1);
        out = lines.join('\n');
        break;
      case 'indent':
        lines[line(edit.line)] = edit.by + (lines[line(edit.line)] ?? '');
        out = lines.join('\n');
        break;
      case 'bomb': {
        // "Billion laughs": each level refers to the previous one ten times.
        const defs = ['l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
        for (let i = 1; i < edit.levels; i++) defs.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
        out = `${defs.join('\n')}\n${out}`;
        break;
      }
    }
  }
  return out;
}

/** A document: a seed, maybe edited as data and re-serialised (YAML or JSON), maybe edited as text. */
export function documentArbitrary(
  seeds: readonly string[],
): fc.Arbitrary<{ seed: number; data: DataEdit[] | null; format: 'yaml' | 'json' | 'flow'; text: TextEdit[] | null }> {
  return fc.record({
    seed: fc.nat(seeds.length - 1),
    data: fc.option(dataEdits, { nil: null, freq: 3 }),
    format: fc.constantFrom('yaml' as const, 'json' as const, 'flow' as const),
    text: fc.option(textEdits, { nil: null, freq: 2 }),
  });
}

export function renderDocument(
  seeds: readonly string[],
  spec: { seed: number; data: DataEdit[] | null; format: 'yaml' | 'json' | 'flow'; text: TextEdit[] | null },
  parse: (text: string) => unknown,
): string {
  const source = seeds[spec.seed];
  let text = source;
  if (spec.data !== null) {
    let document: unknown;
    try {
      document = parse(source);
    } catch {
      document = { value: source };
    }
    const edited = applyDataEdits(document, spec.data);
    text = serialize(edited, spec.format);
  }
  return spec.text === null ? text : applyTextEdits(text, spec.text);
}

/** YAML's stringifier recurses per level and overflows on very deep documents: those are written as JSON (still YAML). */
function serialize(document: unknown, format: 'yaml' | 'json' | 'flow'): string {
  if (format !== 'json' && depthOf(document) <= 100) {
    try {
      return stringify(document, { collectionStyle: format === 'flow' ? 'flow' : 'any', lineWidth: 0 });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
  }
  return JSON.stringify(document) ?? 'null';
}

function depthOf(root: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    max = Math.max(max, depth + 1);
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return max;
}
