/**
 * Path patterns of `to[].paths`: `*` (any path), `/exact`, `/prefix/*` and `*suffix`.
 * Patterns are written against the normalised path (see src/request), so anything a
 * normalised path can never contain is rejected at load rather than silently never matching.
 */

export type PathPattern =
  | { readonly kind: 'any' }
  | { readonly kind: 'exact'; readonly path: string }
  /** `prefix` ends with "/". */
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'suffix'; readonly suffix: string };

/** RFC 3986 pchar plus "/" and "*", without "%" and ";" (see the checks below). */
const ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;

/** Why `pattern` is not a valid path pattern, or null when it is. */
export function pathPatternError(pattern: string): string | null {
  if (pattern === '') return 'must not be empty';
  if (pattern === '*') return null;
  if (pattern[0] !== '/' && pattern[0] !== '*') return 'must start with "/" or "*"';
  if (!ALLOWED.test(pattern)) {
    const bad = [...pattern].find((c) => !ALLOWED.test(c)) ?? '';
    return `must not contain ${JSON.stringify(bad)}`;
  }
  if (pattern.includes('//')) return 'must not contain "//"';
  if (pattern.includes('..')) return 'must not contain ".."';
  if (pattern[0] === '*') {
    if (pattern.indexOf('*', 1) !== -1) return '"*" may appear only once';
    return null;
  }
  const star = pattern.indexOf('*');
  if (star !== -1 && (star !== pattern.length - 1 || pattern[star - 1] !== '/')) {
    return '"*" is allowed only as the whole pattern, first ("*.png") or last after "/" ("/api/*")';
  }
  if (pattern.split('/').includes('.')) return 'must not contain "." segments';
  return null;
}

/** Parses a pattern already accepted by `pathPatternError`. */
export function parsePathPattern(pattern: string): PathPattern {
  const error = pathPatternError(pattern);
  if (error !== null) throw new TypeError(`invalid path pattern ${JSON.stringify(pattern)}: ${error}`);
  if (pattern === '*') return { kind: 'any' };
  if (pattern[0] === '*') return { kind: 'suffix', suffix: pattern.slice(1) };
  if (pattern.endsWith('/*')) {
    return { kind: 'prefix', prefix: pattern.slice(0, -1) };
  }
  return { kind: 'exact', path: pattern };
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
  }
}
