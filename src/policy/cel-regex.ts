/**
 * cel-js runs `string.matches(re)` with JavaScript's backtracking RegExp, and the strings
 * it matches (headers, paths, claims) come from the caller: up to `request.maxHeaderBytes`
 * of them. So a `when` may only use a literal pattern whose worst case is linear in the input:
 * - no backreferences or lookarounds;
 * - no repeated group that itself contains a repetition or an alternation (`(a+)+`, `(a|a)*`),
 *   which backtracks exponentially;
 * - at most one variable-length quantifier (`*`, `+`, `?`, `{n,}`, `{n,m}`), and a pattern
 *   that has one must start with `^` and have no top-level `|`. Two quantifiers (`.*a.*b`,
 *   `[a-z]+[a-z]+x`), or one in an unanchored pattern (`a+b`, which is retried at every
 *   offset), take time quadratic or worse in the input: seconds for one 64 KiB header.
 * Use `startsWith`, `endsWith`, `contains` or `split` for the rest of a check.
 */
import type { ASTNode } from '@marcbachmann/cel-js';

/** The first problem with a `matches` call in `ast`, or null. */
export function unsafeRegexIn(ast: ASTNode): string | null {
  if (ast.op === 'rcall' && ast.args[0] === 'matches') {
    const pattern = ast.args[2][0];
    if (pattern?.op !== 'value' || typeof pattern.args !== 'string') {
      return 'matches() takes a string literal pattern';
    }
    const reason = regexError(pattern.args);
    if (reason !== null) return `matches(${JSON.stringify(pattern.args)}): ${reason}`;
  }
  for (const child of astChildren(ast)) {
    const reason = unsafeRegexIn(child);
    if (reason !== null) return reason;
  }
  return null;
}

/** The AST nodes directly below `node`. */
export function astChildren(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object' && 'op' in value) out.push(value as ASTNode);
  };
  visit(node.args);
  return out;
}

/** Why `pattern` is refused, or null. */
export function regexError(pattern: string): string | null {
  try {
    new RegExp(pattern);
  } catch {
    return 'not a valid regular expression';
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed';
  if (/\(\?<?[=!]/.test(pattern)) return 'lookarounds are not allowed';
  // Stack of open groups: does the group contain a repetition or an alternation?
  const groups: Array<{ risky: boolean }> = [{ risky: false }];
  let variable = 0;
  let topLevelAlternation = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      i = classEnd(pattern, i);
    } else if (c === '(') {
      groups.push({ risky: false });
      // `(?:` and `(?<name>` are group syntax, not a `?` quantifier.
      if (pattern[i + 1] === '?') i = pattern[i + 2] === '<' ? pattern.indexOf('>', i) : i + 2;
    } else if (c === ')') {
      const group = groups.pop() ?? { risky: false };
      const q = quantifierAt(pattern, i + 1);
      if (q.repeats && group.risky) return 'a repeated group must not contain a repetition or "|"';
      groups[groups.length - 1]!.risky ||= group.risky || q.repeats;
      if (q.variable) variable++;
      i += q.length;
    } else if (c === '|') {
      groups[groups.length - 1]!.risky = true;
      if (groups.length === 1) topLevelAlternation = true;
    } else {
      const q = quantifierAt(pattern, i);
      if (q.length > 0) {
        groups[groups.length - 1]!.risky ||= q.repeats;
        if (q.variable) variable++;
        i += q.length - 1;
      }
    }
  }
  if (variable > 1) return 'at most one variable-length quantifier (*, +, ?, {n,m}) is allowed; check the rest with startsWith, endsWith or contains';
  if (variable === 1 && (pattern[0] !== '^' || topLevelAlternation)) return 'a pattern with a quantifier must start with "^" and have no top-level "|"';
  return null;
}

/** The quantifier starting at `i` (with its lazy `?`), if any. */
function quantifierAt(pattern: string, i: number): { length: number; repeats: boolean; variable: boolean } {
  const c = pattern[i];
  let q: { length: number; repeats: boolean; variable: boolean } | undefined;
  if (c === '*' || c === '+') q = { length: 1, repeats: true, variable: true };
  else if (c === '?') q = { length: 1, repeats: false, variable: true };
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
    if (m !== null) {
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      q = { length: m[0].length, repeats: max > 1, variable: max !== min };
    }
  }
  if (q === undefined) return { length: 0, repeats: false, variable: false };
  if (pattern[i + q.length] === '?') q.length++;
  return q;
}

function classEnd(pattern: string, open: number): number {
  for (let i = open + 1; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return pattern.length;
}
