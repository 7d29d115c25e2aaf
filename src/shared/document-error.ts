/** Where a problem is in a document's text: 1-based line and column. */
export interface DocumentPosition {
  readonly line: number;
  readonly column: number;
}

/** What a DocumentError may say besides file, field and reason. */
export interface DocumentErrorDetail extends Partial<DocumentPosition> {
  /**
   * The field as the message shows it, when that says more than the path: a policy rule's
   * name (`spec.rules[3] (read-orders).when`). `field` stays the path.
   */
  readonly label?: string;
  readonly cause?: unknown;
}

/**
 * A config or policy document that cannot be used. The message is always one line:
 * `FILE: FIELD: REASON`, or `FILE:LINE:COLUMN: FIELD: REASON` when the field's place in the
 * file is known, so an operator (or an editor) can find and fix it without a stack trace.
 */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  /** The field as printed: control characters and line separators escaped (see `printable`). */
  readonly field: string;
  readonly reason: string;
  /** Where the field (or the syntax error) is in the file, when the text was parsed here; else undefined. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** The field as shown in the message (`label`, else `field`). */
  readonly shownField: string;
  constructor(
    readonly file: string,
    field: string,
    reason: string,
    detail: DocumentErrorDetail = {},
  ) {
    // A field path can carry a key name from the document, a reason a parser's message:
    // either may hold a line break or a terminal escape, and the message must stay one line.
    const shownField = printable(detail.label ?? field);
    const shownReason = printable(oneLine(reason));
    const at = detail.line !== undefined && detail.column !== undefined ? `:${detail.line}:${detail.column}` : '';
    super(`${printable(file)}${at}: ${shownField || '(document)'}: ${shownReason}`, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.field = printable(field);
    this.reason = shownReason;
    this.shownField = shownField;
    this.line = at ? detail.line : undefined;
    this.column = at ? detail.column : undefined;
  }

  /** The same error (same class, file, field and reason) with a position or label added. */
  with(detail: DocumentErrorDetail): DocumentError {
    const Class = this.constructor as new (file: string, field: string, reason: string, detail?: DocumentErrorDetail) => DocumentError;
    const label = this.shownField === this.field ? undefined : this.shownField;
    return new Class(this.file, this.field, this.reason, { line: this.line, column: this.column, label, cause: this.cause, ...detail });
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

/**
 * Why a file could not be read, in words an operator acts on: ENOENT "no such file", EACCES
 * and EPERM "permission denied", EISDIR "is a directory"; another code as it is.
 */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return error instanceof Error ? oneLine(error.message) : 'unknown error';
  return READ_FAILURES[code] ?? code;
}

const READ_FAILURES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a parent is not a directory)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
};
