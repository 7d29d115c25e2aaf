import { StacklessError } from '../shared/index.js';

/**
 * Why a CheckRequest could not be turned into a RequestView. The code is stable: it is
 * the deny body's `reason`, the metrics label and the log field, and tests assert on it.
 */
export type RequestErrorCode =
  /** `attributes.request.http`, the method or the path is missing, or the method/host is not valid. */
  | 'malformed_request'
  /** The method has a lower-case letter (`get`, `Delete`): backends disagree on whether it is GET / DELETE. */
  | 'lowercase_method'
  /** Path not origin-form, too long, a control/non-ASCII/space character, or a malformed `%` escape. */
  | 'invalid_path'
  /** A `..` segment would climb above `/`. */
  | 'path_traversal'
  /** `%2F`, `%5C` or a literal `\`: something a backend may treat as a separator the policy did not see. */
  | 'encoded_separator'
  /** A `;` (or `%3B`) in the path: Tomcat/Spring-style path parameters (`/admin..;/`). */
  | 'path_parameters'
  /** `%25` followed by two hex digits (`%252e`, `%252F`): a second decode upstream would see another escape. */
  | 'double_encoded_path'
  /** A header name that is not an RFC 9110 token, or a value with NUL, CR or LF. */
  | 'invalid_header'
  /** More header entries than `maxHeaders`. */
  | 'too_many_headers'
  /** Names plus values of all headers exceed `maxHeaderBytes`. */
  | 'header_too_large';

/**
 * HTTP status of the deny for each code. Header limits use 431 (RFC 6585, "Request Header
 * Fields Too Large") so clients and dashboards can tell them apart from a bad request.
 */
export const REQUEST_ERROR_STATUS: Readonly<Record<RequestErrorCode, 400 | 431>> = Object.freeze({
  malformed_request: 400,
  lowercase_method: 400,
  invalid_path: 400,
  path_traversal: 400,
  encoded_separator: 400,
  path_parameters: 400,
  double_encoded_path: 400,
  invalid_header: 400,
  too_many_headers: 431,
  header_too_large: 431,
});

export interface RequestErrorOptions {
  /** The request id known when the error was raised ("" before headers are read). */
  requestId?: string;
  cause?: unknown;
}

/**
 * Bad input, never misconfiguration (that is a TypeError). Messages never echo header
 * values or the path: they may carry credentials, and deny bodies must stay small.
 */
export class RequestError extends StacklessError {
  override readonly name = 'RequestError';
  readonly code: RequestErrorCode;
  readonly requestId: string;

  constructor(code: RequestErrorCode, message: string, options: RequestErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.requestId = options.requestId ?? '';
  }

  /** HTTP status for the deny response (400, or 431 for header limits). */
  get status(): 400 | 431 {
    return REQUEST_ERROR_STATUS[this.code];
  }

  /** The same error tagged with a request id learnt later (path errors are raised before it is known). */
  withRequestId(requestId: string): RequestError {
    return new RequestError(this.code, this.message, { requestId, cause: this.cause });
  }
}
