export { loadConfig, parseConfig, parseYamlOrJson } from './load.js';
export { DocumentError, fromZodError, fieldPath } from './document-error.js';
export * from './schema.js';
