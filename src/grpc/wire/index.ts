export { decodeCheckRequest } from './check-request.js';
export { encodeCheckResponse } from './check-response.js';
export { WireError, type WireErrorCode } from './reader.js';
