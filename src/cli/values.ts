/** Parsers for option values shared by several commands. Each throws UsageError naming the option. */
import { UsageError } from './command.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/**
 * A signed duration in whole seconds: `90`, `90s`, `15m`, `2h`, `1d`, `-1m`. Negative
 * values are allowed so tests can mint tokens that are already expired or not yet valid.
 */
export function parseDuration(text: string, option: string): number {
  const match = /^(-?)(\d+)([smhd]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`${option}: "${text}" is not a duration (use e.g. 90, 30s, 15m, 2h, 1d)`);
  const [, sign, amount, unit] = match;
  const seconds = Number(amount) * UNIT_SECONDS[unit || 's'];
  if (!Number.isSafeInteger(seconds)) throw new UsageError(`${option}: "${text}" is too large`);
  return sign === '-' ? -seconds : seconds;
}

/** `key=value` (the value may contain "="). */
export function parseKeyValue(text: string, option: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${option}: "${text}" must be key=value`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** `name: value` as curl's -H takes it; the name is lower-cased the way Envoy presents it. */
export function parseHeader(text: string, option = '-H'): [string, string] {
  const colon = text.indexOf(':', text.startsWith(':') ? 1 : 0);
  const name = colon < 0 ? '' : text.slice(0, colon).trim().toLowerCase();
  if (!/^:?[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new UsageError(`${option}: "${text}" must be "name: value"`);
  return [name, text.slice(colon + 1).trim()];
}

/**
 * A value that is JSON when it parses as JSON (numbers, booleans, null, arrays, objects,
 * quoted strings), else the text itself: `--claim level=3` is a number, `--claim tenant=acme`
 * a string, `--claim id='"007"'` the string "007".
 */
export function jsonOrString(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
