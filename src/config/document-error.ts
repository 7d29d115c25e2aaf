import type { ZodError } from 'zod';

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

/** The first zod issue, as a DocumentError naming the field. */
export function fromZodError(file: string, error: ZodError): DocumentError {
  const issue = error.issues[0];
  return new DocumentError(file, fieldPath(issue?.path ?? []), oneLine(issue?.message ?? 'invalid'));
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
