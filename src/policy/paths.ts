/**
 * Path patterns of `to[].paths`: `*` (any path), `/exact`, `/prefix/*`, `*suffix`, and URI
 * templates in the syntax of Envoy's `envoy.path.match.uri_template`:
 *
 * - `{name}` (or `{name=*}`): exactly one non-empty segment, captured as `name`;
 * - `*` as a whole segment: exactly one non-empty segment, not captured;
 * - `**` or `{name=**}` as the last segment: the rest of the path after the "/" before it,
 *   zero or more segments (`/files/**` matches `/files/`, `/files/a`, `/files/a/b/`, not
 *   `/files`, as Envoy's `/files/[…]*` does); `{name=**}` captures that rest (`a/b/`, or "");
 * - any other segment is a literal, compared exactly. A trailing "/" is a literal too: it
 *   must be in the path (`/a/{id}` does not match `/a/7/`).
 *
 * A template starts with "/". A variable or `*` must be a whole segment (`/x{id}`, `/a*b`
 * are refused, where Envoy would accept them), `{name=a/*}` forms are not supported, and a
 * trailing `/*` keeps its old meaning (anything below) only in a pattern without other
 * template syntax: in a template it is refused as ambiguous (write `/**` or `/{name}`).
 *
 * Patterns are written against the normalised path (see src/request), so anything a
 * normalised path can never contain is rejected at load rather than silently never matching.
 * Captures are text of the normalised path: unreserved escapes decoded, others kept as `%XX`.
 */

export type PathPattern =
  | { readonly kind: 'any' }
  | { readonly kind: 'exact'; readonly path: string }
  /** `prefix` ends with "/". */
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'suffix'; readonly suffix: string }
  | PathTemplate;

/** One segment of a template before any `**`: a literal, or one non-empty segment (captured as `name` if not null). */
export interface TemplateSegment {
  /** The exact text; null for `*` / `{name}`. */
  readonly literal: string | null;
  /** The variable the segment is captured as; null for literals and `*`. */
  readonly name: string | null;
}

export interface PathTemplate {
  readonly kind: 'template';
  /** The segments after the leading "/" (a trailing "/" is a last literal ""), without a final `**`. */
  readonly segments: readonly TemplateSegment[];
  /** Whether the pattern ends in `**` or `{name=**}`: the rest of the path, zero or more segments. */
  readonly rest: boolean;
  /** The variable `{name=**}` captures the rest as; null for `**` or without a rest. */
  readonly restName: string | null;
  /** Every variable the template captures, in order. */
  readonly names: readonly string[];
}

/** At most this many variables in one pattern (Envoy allows 5). */
export const MAX_TEMPLATE_VARIABLES = 16;
/** A variable name is at most this long (Envoy allows 16). */
export const MAX_VARIABLE_NAME_LENGTH = 32;

/** RFC 3986 pchar plus "/", "*", "{" and "}", without "%" and ";" (see the checks below). */
const ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,=:@/{}]*$/;
const TEMPLATE_SYNTAX = /[*{}]/;
const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Why `pattern` is not a valid path pattern, or null when it is. */
export function pathPatternError(pattern: string): string | null {
  const parsed = parse(pattern);
  return typeof parsed === 'string' ? parsed : null;
}

/** Parses a pattern already accepted by `pathPatternError`. */
export function parsePathPattern(pattern: string): PathPattern {
  const parsed = parse(pattern);
  if (typeof parsed === 'string') throw new TypeError(`invalid path pattern ${JSON.stringify(pattern)}: ${parsed}`);
  return parsed;
}

function parse(pattern: string): PathPattern | string {
  if (pattern === '') return 'must not be empty';
  if (pattern === '*') return { kind: 'any' };
  if (pattern[0] !== '/' && pattern[0] !== '*') return 'must start with "/" or "*"';
  if (!ALLOWED.test(pattern)) {
    const bad = [...pattern].find((c) => !ALLOWED.test(c)) ?? '';
    return `must not contain ${JSON.stringify(bad)}`;
  }
  if (pattern.includes('//')) return 'must not contain "//"';
  if (pattern.includes('..')) return 'must not contain ".."';
  if (pattern[0] === '*') {
    if (pattern.includes('{') || pattern.includes('}') || pattern.startsWith('**')) return 'a template ("{name}", "**") must start with "/"';
    if (pattern.indexOf('*', 1) !== -1) return '"*" may appear only once';
    return { kind: 'suffix', suffix: pattern.slice(1) };
  }
  const segments = pattern.slice(1).split('/');
  if (segments.includes('.')) return 'must not contain "." segments';
  if (!TEMPLATE_SYNTAX.test(pattern)) return { kind: 'exact', path: pattern };
  if (segments[segments.length - 1] === '*' && !TEMPLATE_SYNTAX.test(pattern.slice(0, -1))) {
    return { kind: 'prefix', prefix: pattern.slice(0, -1) };
  }
  return parseTemplate(pattern, segments);
}

function parseTemplate(pattern: string, segments: readonly string[]): PathTemplate | string {
  const braces = braceError(pattern);
  if (braces !== null) return braces;
  const parsed: TemplateSegment[] = [];
  const names: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (segment === '**') {
      if (!last) return '"**" must be the last segment';
      return template(parsed, true, null, names);
    }
    if (segment === '*') {
      if (last)
        return 'a trailing "/*" means "anything below" only in a pattern without "{…}" or other "*": write "/**" (anything below) or "/{name}" (one segment)';
      parsed.push({ literal: null, name: null });
      continue;
    }
    if (segment.includes('{')) {
      if (segment[0] !== '{' || !segment.endsWith('}') || segment.indexOf('{', 1) !== -1) {
        return `a variable must be a whole segment, not part of ${JSON.stringify(segment)}`;
      }
      const body = segment.slice(1, -1);
      const eq = body.indexOf('=');
      const name = eq === -1 ? body : body.slice(0, eq);
      const match = eq === -1 ? '*' : body.slice(eq + 1);
      const nameError = variableNameError(name);
      if (nameError !== null) return nameError;
      if (names.includes(name)) return `variable "${name}" appears twice`;
      names.push(name);
      if (names.length > MAX_TEMPLATE_VARIABLES) return `has more than ${MAX_TEMPLATE_VARIABLES} variables`;
      if (match === '**') {
        if (!last) return `${JSON.stringify(segment)} must be the last segment`;
        return template(parsed, true, name, names);
      }
      if (match !== '*') return `${JSON.stringify(segment)}: a variable matches "*" (one segment) or "**" (the rest of the path), not ${JSON.stringify(match)}`;
      parsed.push({ literal: null, name });
      continue;
    }
    if (segment.includes('*')) {
      return `"*" must be a whole segment ("/a/*/b"), "**" the last one ("/a/**"), or the first character ("*.png"), not part of ${JSON.stringify(segment)}`;
    }
    parsed.push({ literal: segment, name: null });
  }
  return template(parsed, false, null, names);
}

function template(segments: TemplateSegment[], rest: boolean, restName: string | null, names: string[]): PathTemplate {
  return Object.freeze({ kind: 'template', segments: Object.freeze(segments), rest, restName, names: Object.freeze(names) });
}

/** Unbalanced or nested braces, or a variable spanning segments. */
function braceError(pattern: string): string | null {
  let open = -1;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') {
      if (open !== -1) return 'unbalanced "{": a "{" inside "{…}"';
      open = i;
    } else if (c === '}') {
      if (open === -1) return 'unbalanced "}": no "{" opens it';
      const body = pattern.slice(open + 1, i);
      if (body.includes('/')) return `"{${body}}": a variable is one segment ({name}, {name=*}) or the rest of the path ({name=**}), with no "/" inside`;
      open = -1;
    }
  }
  return open === -1 ? null : 'unbalanced "{": no "}" closes it';
}

function variableNameError(name: string): string | null {
  if (name === '') return 'empty variable name in "{…}"';
  if (!VARIABLE_NAME.test(name)) return `invalid variable name ${JSON.stringify(name)}: letters, digits and "_", starting with a letter`;
  if (name.length > MAX_VARIABLE_NAME_LENGTH) return `variable name "${name}" is longer than ${MAX_VARIABLE_NAME_LENGTH} characters`;
  return null;
}

export function matchPath(pattern: PathPattern, path: string): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'exact':
      return path === pattern.path;
    case 'prefix':
      return path.startsWith(pattern.prefix);
    case 'suffix':
      return path.endsWith(pattern.suffix);
    case 'template':
      return matchTemplate(pattern, path, null);
  }
}

/**
 * Whether `path` matches `template`; when it does and `captures` is given, the variables are
 * written into it (it may hold some of them after a failed match). Walks the path once,
 * segment by segment, allocating only the captured strings.
 */
export function matchTemplate(template: PathTemplate, path: string, captures: Record<string, string> | null): boolean {
  if (path.charCodeAt(0) !== 47 /* "/" */) return false;
  const segments = template.segments;
  // Where the next segment starts: just after a "/". Past the end, the path has no more segments.
  let start = 1;
  for (let i = 0; i < segments.length; i++) {
    if (start > path.length) return false;
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const segment = segments[i];
    if (segment.literal !== null) {
      if (end - start !== segment.literal.length || !path.startsWith(segment.literal, start)) return false;
    } else {
      if (end === start) return false;
      if (captures !== null && segment.name !== null) captures[segment.name] = path.slice(start, end);
    }
    start = end + 1;
  }
  if (!template.rest) return start === path.length + 1;
  if (start > path.length) return false;
  if (captures !== null && template.restName !== null) captures[template.restName] = path.slice(start);
  return true;
}

/** The variables `pattern` captures (none for the forms other than templates). */
export function capturedNames(pattern: PathPattern): readonly string[] {
  return pattern.kind === 'template' ? pattern.names : NO_NAMES;
}

const NO_NAMES: readonly string[] = Object.freeze([]);
