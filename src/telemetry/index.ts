export { Metrics } from './metrics.js';
export { createLogger, synchronousStdout, REDACT_PATHS, type Logger } from './logger.js';
export { startAdminServer, type AdminServer, type AdminServerOptions, type Readiness } from './admin.js';
