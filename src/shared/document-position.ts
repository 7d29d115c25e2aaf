import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { DocumentPosition } from './document-error.js';

/** A field's path in a document: member names and list indexes (`['issuers', 0, 'keys']`). */
export type FieldPath = ReadonlyArray<string | number>;

export interface LocateOptions {
  /** `key`: the member's name (an unknown field); `value` (default): what it is set to. */
  readonly at?: 'key' | 'value';
  /**
   * True: only a field written in the document has a position (a value the schema defaulted
   * has none). False (default): a missing field is placed at the nearest enclosing one that
   * is written, e.g. a required member at the mapping that lacks it; the document itself has none.
   */
  readonly exact?: boolean;
}

type Locator = (path: FieldPath, options: LocateOptions) => number | undefined;

interface Source {
  readonly locate: Locator;
  readonly position: (offset: number) => DocumentPosition;
}

/**
 * Parsed documents → how to find a field in the text they came from. Kept beside the value
 * rather than returned, so every reader of parseYamlOrJson gets positions in its errors
 * without changing how it parses; an entry goes when its value is collected.
 */
const sources = new WeakMap<object, Source>();

/** Remembers where `value` (an object or array parsed from YAML) came from. */
export function rememberYamlSource(value: unknown, doc: Document.Parsed, lines: LineCounter): void {
  if (typeof value === 'object' && value !== null) sources.set(value, { locate: yamlLocator(doc), position: (offset) => yamlPosition(lines, offset) });
}

/** Remembers where `value` (an object or array parsed from JSON `text`) came from. */
export function rememberJsonSource(value: unknown, text: string): void {
  if (typeof value === 'object' && value !== null) sources.set(value, { locate: jsonLocator(text), position: (offset) => textPosition(text, offset) });
}

/**
 * The line and column of `path` in the text `document` was parsed from by parseYamlOrJson;
 * undefined when the document did not come from text (a control-plane body, a test's
 * object) or the field is not written in it (see LocateOptions).
 */
export function locateField(document: unknown, path: FieldPath, options: LocateOptions = {}): DocumentPosition | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const source = sources.get(document);
  if (source === undefined) return undefined;
  try {
    const offset = source.locate(path, options);
    return offset === undefined ? undefined : source.position(offset);
  } catch {
    // A position is a courtesy: a failure to find one must never replace the error itself.
    return undefined;
  }
}

/** Walks the composed YAML nodes; an alias is followed into what it names. */
function yamlLocator(doc: Document.Parsed): Locator {
  return (path, { at = 'value', exact = false }) => {
    let node: unknown = doc.contents;
    let found: number | undefined;
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(doc);
      const part = path[i];
      let key: unknown;
      let value: unknown;
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(part));
        if (pair === undefined) return exact ? undefined : found;
        key = pair.key;
        value = pair.value;
      } else if (isSeq(node) && typeof part === 'number' && part < node.items.length) {
        value = node.items[part];
      } else {
        return exact ? undefined : found;
      }
      const keyStart = start(key);
      // `name:` with nothing after it: the value is an empty scalar at the end of the line.
      const empty = isScalar(value) && value.range !== undefined && value.range !== null && value.range[0] === value.range[1];
      const valueStart = empty ? undefined : start(value);
      found = (i === path.length - 1 && at === 'key' ? (keyStart ?? valueStart) : (valueStart ?? keyStart)) ?? found;
      node = value;
    }
    return found;
  };
}

function start(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null | undefined)?.range;
  return range?.[0];
}

function yamlPosition(lines: LineCounter, offset: number): DocumentPosition {
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

/** 1-based line and column of `offset` (UTF-16 units, as yaml's LineCounter counts). */
export function textPosition(text: string, offset: number): DocumentPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Finds a field in JSON text that JSON.parse accepted (the strict parser's fast path keeps no
 * positions): skips from member to member along the path, without building values.
 */
function jsonLocator(text: string): Locator {
  return (path, { at = 'value', exact = false }) => {
    let pos = skipSpace(text, 0);
    let found: number | undefined;
    for (let i = 0; i < path.length; i++) {
      const child = jsonChild(text, pos, path[i]);
      if (child === undefined) return exact ? undefined : found;
      found = i === path.length - 1 && at === 'key' && child.key !== undefined ? child.key : child.value;
      pos = child.value;
    }
    return found;
  };
}

/** Where member (or item) `part` of the object (or array) starting at `pos` is. */
function jsonChild(text: string, pos: number, part: string | number): { key?: number; value: number } | undefined {
  const open = text[pos];
  if (open !== '{' && open !== '[') return undefined;
  const object = open === '{';
  let p = skipSpace(text, pos + 1);
  if (text[p] === (object ? '}' : ']')) return undefined;
  for (let index = 0; ; index++) {
    let key: number | undefined;
    let matches: boolean;
    if (object) {
      key = p;
      const end = stringEnd(text, p);
      matches = (JSON.parse(text.slice(p, end)) as string) === String(part);
      p = skipSpace(text, skipSpace(text, end) + 1); // past the ':'
    } else {
      matches = index === part;
    }
    if (matches) return { key, value: p };
    p = skipSpace(text, valueEnd(text, p));
    if (text[p] !== ',') return undefined;
    p = skipSpace(text, p + 1);
  }
}

function skipSpace(text: string, pos: number): number {
  let p = pos;
  while (p < text.length && (text[p] === ' ' || text[p] === '\n' || text[p] === '\r' || text[p] === '\t')) p++;
  return p;
}

/** `pos` is at an opening quote; returns the index just past the closing one. */
function stringEnd(text: string, pos: number): number {
  let p = pos + 1;
  while (p < text.length && text[p] !== '"') p += text[p] === '\\' ? 2 : 1;
  return p + 1;
}

function valueEnd(text: string, pos: number): number {
  const c = text[pos];
  if (c === '"') return stringEnd(text, pos);
  if (c === '{' || c === '[') {
    let depth = 0;
    let p = pos;
    while (p < text.length) {
      const d = text[p];
      if (d === '"') {
        p = stringEnd(text, p);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return p + 1;
      }
      p++;
    }
    return p;
  }
  let p = pos;
  while (p < text.length && !',}] \n\r\t'.includes(text[p])) p++;
  return p;
}
