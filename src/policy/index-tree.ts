/**
 * The rule index: for a method and a normalised path, the rules that can match, in
 * document order. It is a pre-filter over `to[].methods` and `to[].paths` only; the
 * evaluator still checks each candidate in full (hosts, from, require, when), so an index
 * entry may be broader than the rule but never narrower.
 *
 * Per method (plus one table for "any method"): exact paths in a Map, prefix patterns in
 * a trie keyed by path segment, suffix patterns in Maps grouped by suffix length, and a
 * list for rules that match any path. A lookup costs one Map hit, one trie walk over the
 * path's segments, one Map hit per distinct suffix length, then a sort of the few hits.
 */
import type { PathPattern } from './paths.js';

interface TrieNode {
  children: Map<string, TrieNode> | null;
  /** Rules with a prefix pattern ending at this node. */
  rules: number[];
}

class PathTable {
  readonly exact = new Map<string, number[]>();
  readonly prefixes: TrieNode = { children: null, rules: NO_RULES };
  /** suffix length → suffix → rules. */
  readonly suffixes = new Map<number, Map<string, number[]>>();
  any: number[] = NO_RULES;

  add(rule: number, pattern: PathPattern): void {
    switch (pattern.kind) {
      case 'any':
        this.any = withRule(this.any, rule);
        return;
      case 'exact':
        return addTo(this.exact, pattern.path, rule);
      case 'suffix': {
        let byText = this.suffixes.get(pattern.suffix.length);
        if (byText === undefined) this.suffixes.set(pattern.suffix.length, (byText = new Map<string, number[]>()));
        return addTo(byText, pattern.suffix, rule);
      }
      case 'prefix': {
        let node = this.prefixes;
        for (const segment of pattern.prefix.split('/')) {
          if (segment === '') continue;
          node.children ??= new Map();
          let child = node.children.get(segment);
          if (child === undefined) node.children.set(segment, (child = { children: null, rules: NO_RULES }));
          node = child;
        }
        node.rules = withRule(node.rules, rule);
        return;
      }
    }
  }

  collect(path: string, out: number[]): void {
    pushAll(out, this.any);
    const exact = this.exact.get(path);
    if (exact !== undefined) pushAll(out, exact);
    for (const [length, byText] of this.suffixes) {
      if (length > path.length) continue;
      const hit = byText.get(path.slice(path.length - length));
      if (hit !== undefined) pushAll(out, hit);
    }
    this.collectPrefixes(path, out);
  }

  /**
   * A prefix pattern of k segments matches a path with more than k segments whose first k
   * segments are equal. Walk the path segment by segment; at each node reached, the next
   * path segment exists (it may be empty: "/api/orders/"), so the node's rules match.
   */
  private collectPrefixes(path: string, out: number[]): void {
    if (path.charCodeAt(0) !== 47 /* "/" */) return;
    let node = this.prefixes;
    let start = 1;
    for (;;) {
      pushAll(out, node.rules);
      const slash = path.indexOf('/', start);
      if (slash === -1 || node.children === null) return;
      const child = node.children.get(path.slice(start, slash));
      if (child === undefined) return;
      node = child;
      start = slash + 1;
    }
  }
}

export class RuleIndex {
  private readonly byMethod = new Map<string, PathTable>();
  private readonly anyMethod = new PathTable();

  /** `methods` null = any method; `paths` null = any path. Add rules in document order. */
  add(rule: number, methods: readonly string[] | null, paths: readonly PathPattern[] | null): void {
    const patterns = paths ?? [{ kind: 'any' } as const];
    const tables = methods === null ? [this.anyMethod] : methods.map((m) => this.table(m));
    for (const table of tables) for (const pattern of patterns) table.add(rule, pattern);
  }

  /** Rule positions that may match, ascending and without duplicates. */
  candidates(method: string, path: string): number[] {
    const out: number[] = [];
    this.anyMethod.collect(path, out);
    this.byMethod.get(method)?.collect(path, out);
    if (out.length > 1) return sortUnique(out);
    return out;
  }

  private table(method: string): PathTable {
    let table = this.byMethod.get(method);
    if (table === undefined) this.byMethod.set(method, (table = new PathTable()));
    return table;
  }
}

/**
 * Lists start as this shared empty one, and a list's first rule makes an array of exactly
 * one: pushing onto an empty array reserves 17 slots, which across the two lists a typical
 * rule gets (an exact path and a prefix) was ~300 bytes per rule of a 10,000-rule policy.
 * `withRule` never pushes onto an empty list; frozen, a push would throw rather than leak
 * a rule into every table.
 */
const NO_RULES: number[] = Object.freeze([]) as unknown as number[];

/** `list` with `rule` appended. Rules arrive in ascending order, so a repeat is always the last element. */
function withRule(list: number[], rule: number): number[] {
  if (list.length === 0) return [rule];
  if (list[list.length - 1] !== rule) list.push(rule);
  return list;
}

function addTo(map: Map<string, number[]>, key: string, rule: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [rule]);
  else withRule(list, rule);
}

function pushAll(out: number[], items: readonly number[]): void {
  for (let i = 0; i < items.length; i++) out.push(items[i]);
}

function sortUnique(items: number[]): number[] {
  // Candidate lists are short and made of already-sorted runs: an in-place insertion sort
  // beats Array.prototype.sort there and allocates nothing (sort copies into a work array).
  if (items.length <= 64) insertionSort(items);
  else items.sort((a, b) => a - b);
  let n = 1;
  for (let i = 1; i < items.length; i++) if (items[i] !== items[n - 1]) items[n++] = items[i];
  items.length = n;
  return items;
}

function insertionSort(items: number[]): void {
  for (let i = 1; i < items.length; i++) {
    const value = items[i];
    let j = i - 1;
    while (j >= 0 && items[j] > value) {
      items[j + 1] = items[j]!;
      j--;
    }
    items[j + 1] = value;
  }
}
