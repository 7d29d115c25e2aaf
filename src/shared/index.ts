// The base layer: what every other folder uses, and nothing of theirs.
export { deepFreeze } from './deep-freeze.js';
export { StacklessError } from './stackless-error.js';
export { parseStrictJson, StrictJsonError, type StrictJsonProblem } from './strict-json.js';
export { DocumentError, fieldPath, printable, readFailure, type DocumentErrorDetail, type DocumentPosition } from './document-error.js';
export { locateField, type FieldPath, type LocateOptions } from './document-position.js';
export { parseYamlOrJson, validateDocument, MAX_NESTING, type ValidateOptions } from './document.js';
export { FilePoller, errorCode } from './file-poller.js';
export {
  JWS_ALGORITHMS,
  JWS_ALGORITHM_NAMES,
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  jwsAlgorithm,
  type JwsAlgorithm,
  type JwsAlgorithmName,
  type JwsKeyShape,
} from './jws-algorithms.js';
export { packageVersion } from './version.js';
export { splitAddress } from './address.js';
