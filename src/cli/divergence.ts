/**
 * The divergence table as `authzctl shadow report` and `authzctl policy replay` print it: one
 * summary line, then the pairs of decisions in which the shadow (or new) policy disagrees with
 * the enforced (or current) one, most frequent first, each with a sample request.
 */
import { diverges, type DivergencePair, type ShadowTotals } from '../policy/index.js';
import { table } from './commands/history.js';

const count = (n: number) => n.toLocaleString('en');

/** `allow read-orders`, `deny default_deny`, `deny missing_scope (read-orders)`, `error internal_error`. */
export function sideLabel(outcome: string, reason: string, rule: string | null): string {
  if (reason === 'allowed_by_rule' || reason === 'denied_by_rule') return `${outcome} ${rule}`;
  return rule === null ? `${outcome} ${reason}` : `${outcome} ${reason} (${rule})`;
}

function sample(pair: DivergencePair): string {
  const s = pair.samples[0];
  if (s === undefined) return '';
  return `${s.method} ${s.path} (${s.subject ?? 'anonymous'}, request ${s.requestId || '-'})`;
}

/**
 * The summary and table lines. `names` labels the two sides (ENFORCED/SHADOW for the fleet,
 * CURRENT/NEW for a replay); `top` caps the rows (the rest are counted in a last line).
 */
export function divergenceLines(totals: ShadowTotals, options: { readonly top: number; readonly names: readonly [string, string] }): string[] {
  const { evaluated, divergent, errors, conditionErrors, overflow } = totals;
  const share = evaluated === 0 ? '0' : ((100 * divergent) / evaluated).toFixed(divergent === 0 || divergent * 1000 >= evaluated ? 1 : 3);
  const lines = [
    `${count(evaluated)} Checks: ${count(divergent)} decided differently (${share} %), ` +
      `${count(errors)} shadow evaluation errors, ${count(conditionErrors)} condition errors` +
      (overflow > 0 ? `, ${count(overflow)} in pairs past the table's bound` : ''),
  ];
  const pairs = totals.table.list().filter(diverges);
  if (pairs.length === 0) return lines;
  const [left, right] = options.names;
  const shown = pairs.slice(0, options.top);
  lines.push(
    '',
    table([
      [left, right, 'CHECKS', 'SAMPLE'],
      ...shown.map((p) => [
        sideLabel(p.enforced, p.enforcedReason, p.enforcedRule),
        sideLabel(p.shadow, p.shadowReason, p.shadowRule),
        count(p.count),
        sample(p),
      ]),
    ]),
  );
  if (pairs.length > shown.length) lines.push(`… and ${pairs.length - shown.length} more divergent pairs (--top N, or --json for all)`);
  return lines;
}

/** The JSON form both commands print with --json. */
export function divergenceJson(totals: ShadowTotals): Record<string, unknown> {
  const { evaluated, divergent, errors, conditionErrors, overflow } = totals;
  return { evaluated, divergent, errors, conditionErrors, overflow, pairs: totals.table.list() };
}
