/**
 * cel-js runs `string.matches(re)` with JavaScript's backtracking RegExp, and the strings
 * it matches (headers, paths, claims) come from the caller. So a `when` may only use a
 * literal pattern, and the pattern may not backtrack exponentially: no backreferences or
 * lookarounds, and no repeated group that itself contains a repetition or an alternation
 * (`(a+)+`, `(a|a)*`). Rewrite such patterns with a character class or without the group.
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
  for (const child of children(ast)) {
    const reason = unsafeRegexIn(child);
    if (reason !== null) return reason;
  }
  return null;
}

function children(node: ASTNode): ASTNode[] {
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
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      i = classEnd(pattern, i);
    } else if (c === '(') {
      groups.push({ risky: false });
    } else if (c === ')') {
      const group = groups.pop() ?? { risky: false };
      const repeated = isRepetition(pattern[i + 1]);
      if (repeated && group.risky) return 'a repeated group must not contain a repetition or "|"';
      groups[groups.length - 1].risky ||= group.risky || repeated;
    } else if (c === '|' || isRepetition(c)) {
      groups[groups.length - 1].risky = true;
    }
  }
  return null;
}

function isRepetition(c: string | undefined): boolean {
  return c === '*' || c === '+' || c === '{';
}

function classEnd(pattern: string, open: number): number {
  for (let i = open + 1; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return pattern.length;
}
