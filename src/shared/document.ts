import { Composer, LineCounter, Parser, YAMLParseError, type Document } from 'yaml';
import type { z } from 'zod';
import { DocumentError, fieldPath, oneLine } from './document-error.js';
import { locateField, rememberJsonSource, rememberYamlSource, type FieldPath } from './document-position.js';
import { parseStrictJson } from './strict-json.js';

/**
 * Shared by every document the project reads (config, policy, policy test cases): one YAML
 * parser (YAML 1.2 is a superset of JSON; duplicate keys are errors) and one way of turning
 * schema failures into a one-line `FILE:LINE:COLUMN: FIELD: REASON`. The value returned
 * remembers the text it came from (document-position.ts), so validateDocument, and whoever
 * reports a problem in a field later (locateField), can say where the field is written.
 */
export function parseYamlOrJson(text: string, file: string): unknown {
  // A JSON document (what generators write) is read by the strict JSON parser: the same result
  // as the YAML path (duplicate members refused, depth bounded by the same limit) at a small
  // fraction of its time and memory (a 10,000-rule policy: 2.6 MB of YAML needs ~200 MB of
  // heap and ~1.7 s to compose).
  // Anything the JSON parser refuses goes down the YAML path, which names the problem.
  if (text.trimStart().startsWith('{')) {
    try {
      const value = parseStrictJson(text, MAX_NESTING);
      rememberJsonSource(value, text);
      return value;
    } catch {
      // fall through: YAML (a superset of JSON) reports where and why
    }
  }
  // One pass of yaml's parser (it builds the syntax tree without recursion); the nesting
  // check and the composer both read its tokens. Before composing: the composer and toJS
  // recurse once per level, and a stack overflow there (or in a regex compiled near the
  // stack's end, which V8 treats as fatal) must not be how a deeply nested document is refused.
  const lines = new LineCounter();
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  if (nestingExceeds(tokens, MAX_NESTING)) throw new DocumentError(file, '', `nested deeper than ${MAX_NESTING} levels`);
  // logLevel error: yaml would otherwise print a process warning (on stderr, outside the
  // logger) for a collection used as a key; that key is refused as an unknown field anyway.
  let doc: Document.Parsed | undefined;
  for (const next of new Composer({ uniqueKeys: true, logLevel: 'error' }).compose(tokens, true, text.length)) {
    if (doc !== undefined) {
      doc.errors.push(
        new YAMLParseError([next.range[0], next.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'),
      );
      break;
    }
    doc = next;
  }
  // compose(…, forceDoc = true) always yields a document, an empty one for empty text.
  const problem = doc!.errors[0];
  if (problem !== undefined) {
    const at = lines.linePos(problem.pos[0]);
    throw new DocumentError(file, '', oneLine(problem.message), { line: at.line, column: at.col });
  }
  try {
    const value: unknown = doc!.toJS({ maxAliasCount: 100 });
    rememberYamlSource(value, doc!, lines);
    return value;
  } catch (error) {
    throw new DocumentError(file, '', oneLine(error instanceof Error ? error.message : String(error)));
  }
}

/** Collections inside collections; no config or policy needs more than a handful. */
export const MAX_NESTING = 64;

/**
 * True when collections (block or flow) nest deeper than `limit` in yaml's concrete syntax
 * tree, walked with an explicit stack.
 */
function nestingExceeds(tokens: readonly object[], limit: number): boolean {
  const COLLECTIONS = new Set(['block-map', 'block-seq', 'flow-collection']);
  for (const token of tokens) {
    const stack: Array<[object, number]> = [[token, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      const level = COLLECTIONS.has((node as { type?: string }).type ?? '') ? depth + 1 : depth;
      if (level > limit) return true;
      for (const child of Object.values(node) as unknown[]) if (typeof child === 'object' && child !== null) stack.push([child, level]);
    }
  }
  return false;
}

export interface ValidateOptions {
  /** What the document must be, for one that is not a mapping ("a mapping" unless told). */
  readonly what?: string;
  /** The field as the message shows it, when that should say more than the path (a policy rule's name). */
  readonly label?: (path: FieldPath) => string | undefined;
}

/**
 * Parses `value` with `schema`; the first problem becomes a DocumentError, with the line and
 * column of the field when `value` came from parseYamlOrJson (a field that is missing: the
 * mapping that lacks it).
 */
export function validateDocument<S extends z.ZodType>(schema: S, value: unknown, file: string, options: string | ValidateOptions = {}): z.output<S> {
  const { what = 'a mapping', label } = typeof options === 'string' ? { what: options } : options;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new DocumentError(file, '', `must be ${what}`);
  const result = schema.safeParse(value, { error: reasonFor });
  if (result.success) return result.data;
  // An unknown field is reported first: a typo (`rule:`) usually explains the other problems.
  const issues = result.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  const unknown = issue.code === 'unrecognized_keys';
  // zod paths hold member names and indexes (symbols only for symbol keys, which parsed text has none of).
  const path = (unknown ? [...issue.path, issue.keys[0]] : issue.path).map((part) => (typeof part === 'number' ? part : String(part)));
  const at = locateField(value, path, { at: unknown ? 'key' : 'value' });
  throw new DocumentError(file, fieldPath(path), oneLine(issue.message), { ...at, label: label?.(path) });
}

/** Zod's issue, as a one-line reason an operator can act on. */
function reasonFor(issue: z.core.$ZodRawIssue): string | undefined {
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined) return 'required';
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${KIND[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'unrecognized_keys':
      return 'unknown field';
    case 'invalid_key':
      return issue.issues[0]?.message ?? 'invalid key';
    case 'too_small':
      return issue.origin === 'string' && Number(issue.minimum) === 1 ? 'must not be empty' : undefined;
    case 'too_big':
      return issue.origin === 'string' ? `must be at most ${issue.maximum} characters` : undefined;
    default:
      return undefined;
  }
}

const KIND: Record<string, string> = {
  string: 'a string',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  boolean: 'true or false',
  number: 'a number',
};
