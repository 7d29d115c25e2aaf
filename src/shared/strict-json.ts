/**
 * JSON.parse with two refusals it does not make on its own:
 *  - duplicate member names: JSON.parse silently keeps the last one, so two parsers (ours
 *    and an IdP's, a WAF's, a log pipeline's) could disagree on what `alg` or `sub` is;
 *  - nesting deeper than `maxDepth`: later code (deep freeze, CEL) walks the value recursively.
 * Names are compared after unescaping, so `"alg"` and `"\u0061lg"` are the same member.
 */

export type StrictJsonProblem = 'syntax' | 'duplicate_key' | 'too_deep';

export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
  constructor(
    readonly problem: StrictJsonProblem,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_MAX_DEPTH = 64;

export function parseStrictJson(text: string, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StrictJsonError('syntax', 'not valid JSON');
  }
  // JSON.parse succeeded, so the scan below only walks well-formed text.
  scanMembers(text, maxDepth);
  return value;
}

interface Frame {
  /** Member names seen so far; undefined for arrays. */
  readonly names: Set<string> | undefined;
  /** True when the next string in this object is a member name. */
  expectName: boolean;
}

function scanMembers(text: string, maxDepth: number): void {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) throw new StrictJsonError('too_deep', `nested deeper than ${maxDepth}`);
      stack.push({ names: c === 0x7b ? new Set() : undefined, expectName: c === 0x7b });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.names) top.expectName = true;
    } else if (c === 0x22 /* " */) {
      const end = endOfString(text, i);
      const top = stack[stack.length - 1];
      if (top?.names && top.expectName) {
        // Only an escaped name needs unescaping; most have no backslash.
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.names.has(name)) throw new StrictJsonError('duplicate_key', 'duplicate member name');
        top.names.add(name);
        top.expectName = false;
      }
      i = end;
    }
    // Numbers, literals, ':' and whitespace carry no member names.
  }
}

/** Index of the closing quote of the string starting at `start` (text is valid JSON). */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22) return i;
    else i++;
  }
  return i;
}
