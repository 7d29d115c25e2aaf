/**
 * An error that answers bad input rather than reporting a fault: a refused token, a malformed
 * request. Its stack is never shown (deny bodies and log lines carry the code and message),
 * and a client retrying bad input would otherwise pay for capturing one on every Check: that
 * was a third of the cost of answering a repeated expired token.
 */
export class StacklessError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = limit;
  }
}
