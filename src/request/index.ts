export type { RequestView } from './types.js';
export { RequestError, REQUEST_ERROR_STATUS } from './errors.js';
export type { RequestErrorCode, RequestErrorOptions } from './errors.js';
export { normalizePath, DEFAULT_MAX_PATH_LENGTH } from './path.js';
export type { NormalizedPath, NormalizePathOptions } from './path.js';
export { buildRequestView, contextExtension, DEFAULT_REQUEST_LIMITS } from './view.js';
export type { RequestLimits } from './view.js';
