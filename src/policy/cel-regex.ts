/**
 * `string.matches(re)` in a `when` runs on RE2 (re2js), as the CEL spec says, not on
 * JavaScript's backtracking RegExp: matching takes time linear in the input whatever the
 * pattern, so `.*refund` or `^(a+)+$` against a 64 KiB header cannot stall the event loop.
 *
 * The pattern must be a string literal. It is compiled when the policy loads, so a pattern
 * that RE2 refuses (bad syntax, backreferences, lookarounds) refuses the policy, and callers
 * never choose a pattern (one read from a header would let them pick what the check accepts).
 * RE2's time is linear in the input times the pattern's size, so a pattern may compile to at
 * most MAX_REGEX_PROGRAM instructions; a counted repetition `x{n}` counts n times.
 *
 * cel-js's own `matches` cannot be replaced (a second `string.matches` overload is refused as
 * overlapping), so the compiled program calls `re2find` instead: cel.ts checks a condition
 * as written, then renames each `matches` call (renameMatchesCalls) and builds the program
 * it evaluates from that text, in an environment that adds `string.re2find(string)`.
 */
import { RE2JS, RE2JSSyntaxException } from 're2js';
import type { ASTNode } from '@marcbachmann/cel-js';

/** Instructions a pattern may compile to: `^/v1/.*refund$` is 16, `[a-z0-9-]{1,63}` 127, `\p{L}{1000}` 1002. */
export const MAX_REGEX_PROGRAM = 500;
/**
 * The method a checked condition's `matches` calls are renamed to; not callable in policies.
 * As long as `matches`, so offsets in evaluation errors still point into the text as written.
 */
export const RE2_FIND = 're2find';

/** A `matches` call of a condition and its compiled pattern. */
export interface RegexCall {
  readonly node: ASTNode;
  readonly regex: RE2JS;
}

/** The `matches` calls in `ast`, each pattern compiled; or why one is refused. */
export function regexCallsIn(ast: ASTNode): RegexCall[] | string {
  const calls: RegexCall[] = [];
  const visit = (node: ASTNode): string | null => {
    if (node.op === 'rcall' && node.args[0] === 'matches') {
      const pattern = node.args[2][0];
      if (pattern?.op !== 'value' || typeof pattern.args !== 'string') return 'matches() takes a string literal pattern';
      const regex = compileRegex(pattern.args);
      if (typeof regex === 'string') return `matches(${JSON.stringify(pattern.args)}): ${regex}`;
      calls.push({ node, regex });
    }
    for (const child of astChildren(node)) {
      const reason = visit(child);
      if (reason !== null) return reason;
    }
    return null;
  };
  return visit(ast) ?? calls;
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
  const regex = compileRegex(pattern);
  return typeof regex === 'string' ? regex : null;
}

/**
 * Compiled patterns by source text, shared by every condition that uses one. Each condition
 * holds its own patterns strongly (RegexCall.regex), so an entry lives as long as a loaded
 * policy uses it: re2js keeps a lazily built DFA (up to 8 MiB) per pattern, which a policy
 * reload must be able to free.
 */
const compiled = new Map<string, WeakRef<RE2JS>>();
const forget = new FinalizationRegistry<string>((pattern) => {
  if (compiled.get(pattern)?.deref() === undefined) compiled.delete(pattern);
});

/** The compiled pattern, or why it is refused (one line). */
export function compileRegex(pattern: string): RE2JS | string {
  const known = compiled.get(pattern)?.deref();
  if (known !== undefined) return known;
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern);
  } catch (error) {
    if (error instanceof RE2JSSyntaxException) return syntaxReason(error);
    throw error;
  }
  const size = regex.programSize();
  if (size > MAX_REGEX_PROGRAM) return `compiles to ${size} instructions (at most ${MAX_REGEX_PROGRAM}); use + or * and check the length with size()`;
  compiled.set(pattern, new WeakRef(regex));
  forget.register(regex, pattern);
  return regex;
}

function syntaxReason(error: RE2JSSyntaxException): string {
  const fragment = error.getPattern() ?? '';
  if (/^\(\?<?[=!]/.test(fragment)) return 'lookarounds are not supported (RE2 syntax)';
  if (/^\\([1-9]|k|g)/.test(fragment)) return 'backreferences are not supported (RE2 syntax)';
  return `not valid RE2 syntax: ${error.getDescription()}${fragment === '' ? '' : ` ${JSON.stringify(fragment)}`}`;
}

/**
 * `string.re2find(string)`: true when `pattern` matches anywhere in `text` (CEL `matches`
 * is a search, not a full match; anchor with ^ and $). Every pattern that reaches it was
 * compiled when its condition was, so the lookup always hits while the condition is loaded.
 */
export function re2Find(text: string, pattern: string): boolean {
  const regex = compiled.get(pattern)?.deref() ?? compileRegex(pattern);
  if (typeof regex === 'string') throw new Error(`matches(${JSON.stringify(pattern)}): ${regex}`);
  return regex.test(text);
}

/**
 * `source` with the method name of each call in `calls` renamed to RE2_FIND. The name sits
 * between the receiver and the pattern, among `)`, `.`, blanks and `//` comments only.
 * Throws if it is not found exactly once there (cel.ts then refuses the condition).
 */
export function renameMatchesCalls(source: string, calls: readonly RegexCall[]): string {
  const offsets = calls.map(({ node }) => {
    const [, receiver, [pattern]] = node.args as [string, ASTNode, ASTNode[]];
    const between = source.slice(receiver.end, pattern.start).replace(/\/\/[^\n]*/g, (comment) => ' '.repeat(comment.length));
    const found = [...between.matchAll(/\bmatches\b/g)];
    if (found.length !== 1) throw new Error(`matches() at character ${node.start + 1}: method name not found`);
    return receiver.end + found[0].index;
  });
  let out = source;
  for (const offset of offsets.sort((a, b) => b - a)) out = out.slice(0, offset) + RE2_FIND + out.slice(offset + 'matches'.length);
  return out;
}
