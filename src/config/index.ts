export { loadConfig, parseConfig, readConfig, type ConfigDocument } from './load.js';
/** What loadConfig and parseConfig throw (it lives in shared/, with the other documents). */
export { DocumentError } from '../shared/index.js';
export * from './schema.js';
export { apiKeySetName, protectedServices, serviceSelection, type ProtectedServiceConfig } from './services.js';
