export { loadConfig, parseConfig } from './load.js';
export { parseYamlOrJson, validateDocument } from './document.js';
export { DocumentError, fieldPath } from './document-error.js';
export * from './schema.js';
