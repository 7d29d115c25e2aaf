/**
 * A config or policy document that cannot be used. The message is always one line:
 * `FILE: FIELD: REASON`, so an operator can find and fix it without a stack trace.
 */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}: ${field || '(document)'}: ${reason}`);
  }
}

/** Renders a zod issue path (`['issuers', 0, 'keys']`) as `issuers[0].keys`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
