/**
 * cel-js has parse-time limits (AST size, depth, literal sizes) but no evaluation cost
 * limit, and a `when` runs synchronously on the request path. Without more, a short
 * expression can do unbounded work: `[[1]].map(a, a + a).map(a, a + a)…` doubles a list per
 * step and, thirty steps on, kills the process with a fatal V8 allocation error (not a
 * catchable exception); nested comprehensions over a split header are polynomial. So, at
 * compile time:
 * - comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) may not be nested or
 *   chained: none inside another's receiver or body;
 * - `split` must carry a literal limit of at most MAX_SPLIT_PARTS (`s.split(",", 50)`),
 *   and may not appear in a comprehension body;
 * - `json()` (a cel-js extension that parses caller bytes into a value) is not available.
 * Together with the parse limits this keeps every list a condition builds at most about
 * MAX_SPLIT_PARTS (or a token claim's size) long, and every comprehension one loop over it.
 * Strings may still grow by concatenation; V8 caps them and raises a RangeError, which
 * fails closed like any evaluation error.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { astChildren } from './cel-regex.js';

export const MAX_SPLIT_PARTS = 1000;
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

/** The first unbounded construct in `ast`, or null. */
export function unboundedCostIn(ast: ASTNode): string | null {
  return visit(ast, 'top');
}

/** Where a node sits: a comprehension's receiver runs once, its body once per element. */
type Place = 'top' | 'receiver' | 'body';

function visit(node: ASTNode, place: Place): string | null {
  let children: Array<[ASTNode, Place]> = astChildren(node).map((child) => [child, place]);
  if (node.op === 'rcall') {
    const name = node.args[0];
    if (name === 'json') return 'json() is not allowed';
    if (name === 'split') {
      if (place === 'body') return 'split() may not be used inside a comprehension';
      const limit = node.args[2][1];
      const value = limit?.op === 'value' ? limit.args : undefined;
      if (typeof value !== 'bigint' || value < 1n || value > BigInt(MAX_SPLIT_PARTS))
        return `split() needs a literal limit from 1 to ${MAX_SPLIT_PARTS}, e.g. split(",", 20)`;
    }
    if (COMPREHENSIONS.has(name)) {
      if (place !== 'top') return `${name}(): comprehensions may not be nested or chained`;
      const [, receiver, body] = node.args;
      children = [[receiver, 'receiver'], ...body.map((child): [ASTNode, Place] => [child, 'body'])];
    }
  }
  for (const [child, where] of children) {
    const reason = visit(child, where);
    if (reason !== null) return reason;
  }
  return null;
}
