/**
 * The rule index: for a method and a normalised path, the rules that can match, in
 * document order. It is a pre-filter over `to[].methods` and `to[].paths` only; the
 * evaluator still checks each candidate in full (hosts, from, require, when), so an index
 * entry may be broader than the rule but never narrower.
 *
 * Per method (plus one table for "any method"): exact paths in a Map; prefix patterns and
 * URI templates in one trie keyed by path segment, where a template's `*` or `{name}`
 * segment is a wildcard edge (any non-empty segment) and a prefix (`/a/*`) is the same as a
 * template ending in `/**`; suffix patterns in Maps grouped by suffix length; and a list for
 * rules that match any path. A lookup costs one Map hit, one walk of the trie along the
 * path's segments, one Map hit per distinct suffix length, then a sort of the few hits.
 *
 * The walk follows, at each node it reaches, the literal edge for the path's next segment
 * and the wildcard edge, so it costs O(path depth) Map lookups per node reached at each
 * depth; that is one node per depth unless templates put wildcards and literals at the same
 * place (`/a/{x}/c` and `/a/b/{y}`), and never more nodes than the trie has.
 */
import type { PathPattern, PathTemplate } from './paths.js';

interface TrieNode {
  /** Literal segment → node. */
  children: Map<string, TrieNode> | null;
  /**
   * Rules whose pattern goes on with `**` here (a template's `/**`, a prefix pattern's
   * trailing `*`): they match when the path has a next segment, even an empty one.
   */
  rest: number[];
  /**
   * What only templates use; null until one does, so that the nodes of prefix patterns (most
   * of a large policy's) stay three fields: all five in every node cost ~60 bytes more per rule
   * of the benchmark's 10,000-rule policy (~960 → ~1,005 bytes retained per rule).
   */
  template: TemplateEdges | null;
}

interface TemplateEdges {
  /** The node after one wildcard segment (`*`, `{name}`): any non-empty segment leads there. */
  wildcard: TrieNode | null;
  /** Template rules whose pattern ends here: they match when the path ends here too. */
  end: number[];
  /** Whether a child (literal or wildcard) has `end` rules, so a last segment is worth looking up. */
  endBelow: boolean;
}

function trieNode(): TrieNode {
  return { children: null, rest: NO_RULES, template: null };
}

function edges(node: TrieNode): TemplateEdges {
  return (node.template ??= { wildcard: null, end: NO_RULES, endBelow: false });
}

class PathTable {
  readonly exact = new Map<string, number[]>();
  readonly trie: TrieNode = trieNode();
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
        // "/api/orders/" is the template "/api/orders/**": its segments before the trailing "".
        let node = this.trie;
        for (const segment of pattern.prefix.slice(1, -1).split('/')) {
          if (segment !== '') node = literalChild(node, segment);
        }
        node.rest = withRule(node.rest, rule);
        return;
      }
      case 'template':
        return this.addTemplate(rule, pattern);
    }
  }

  private addTemplate(rule: number, template: PathTemplate): void {
    let node = this.trie;
    let parent: TrieNode | null = null;
    for (const segment of template.segments) {
      parent = node;
      if (segment.literal !== null) node = literalChild(node, segment.literal);
      else node = edges(node).wildcard ??= trieNode();
    }
    if (template.rest) {
      node.rest = withRule(node.rest, rule);
    } else {
      const here = edges(node);
      here.end = withRule(here.end, rule);
      // A template has at least one segment unless it is "/**", which has a rest.
      if (parent !== null) edges(parent).endBelow = true;
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
    if (path.charCodeAt(0) === 47 /* "/" */) walk(this.trie, path, 1, out);
  }
}

/**
 * Collects the trie's rules for `path` from `node`, where `start` is just after a "/" of the
 * path: the path has a segment there (possibly empty), so the node's `rest` rules match.
 * Recursion depth is bounded by the trie's depth (the longest pattern), not the path's.
 */
function walk(node: TrieNode, path: string, start: number, out: number[]): void {
  pushAll(out, node.rest);
  const template = node.template;
  if (node.children === null && template === null) return;
  const slash = path.indexOf('/', start);
  const last = slash === -1;
  // The last segment only matters to templates ending one level down.
  if (last && (template === null || !template.endBelow)) return;
  const end = last ? path.length : slash;
  if (node.children !== null) {
    const child = node.children.get(path.slice(start, end));
    if (child !== undefined) step(child, path, end, last, out);
  }
  const wildcard = template?.wildcard ?? null;
  if (wildcard !== null && end > start) step(wildcard, path, end, last, out);
}

/** Goes on from `node`, reached by the segment that ends at `end`: its rules that end there, or the walk below it. */
function step(node: TrieNode, path: string, end: number, last: boolean, out: number[]): void {
  if (!last) return walk(node, path, end + 1, out);
  if (node.template !== null) pushAll(out, node.template.end);
}

function literalChild(node: TrieNode, segment: string): TrieNode {
  node.children ??= new Map();
  let child = node.children.get(segment);
  if (child === undefined) node.children.set(segment, (child = trieNode()));
  return child;
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
