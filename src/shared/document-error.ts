/**
 * A config or policy document that cannot be used. The message is always one line:
 * `FILE: FIELD: REASON`, so an operator can find and fix it without a stack trace.
 */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  /** The field as printed: control characters and line separators escaped (see `printable`). */
  readonly field: string;
  readonly reason: string;
  constructor(
    readonly file: string,
    field: string,
    reason: string,
  ) {
    // A field path can carry a key name from the document, a reason a parser's message:
    // either may hold a line break or a terminal escape, and the message must stay one line.
    const shownField = printable(field);
    const shownReason = printable(oneLine(reason));
    super(`${printable(file)}: ${shownField || '(document)'}: ${shownReason}`);
    this.field = shownField;
    this.reason = shownReason;
  }
}

/** C0/C1 controls, DEL and the Unicode line/paragraph separators, as `\uXXXX`; everything else as is. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
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
