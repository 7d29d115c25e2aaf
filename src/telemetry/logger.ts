import { pino, type Logger, type LevelWithSilent } from 'pino';

/**
 * Paths that could ever carry a credential. The request path never logs headers, but a
 * redact list by path is the safety net if someone adds such a field later.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'headers.authorization',
  'headers.cookie',
  'headers["x-service-token"]',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-service-token"]',
  '*.headers["x-api-key"]',
  'key',
  '*.key',
  'secret',
  '*.secret',
  // Introspection's client credentials and the token it sends: never logged, redacted if ever added.
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  '*.client_secret',
  'client_assertion',
  '*.client_assertion',
];

/**
 * Standard output written synchronously, for a run that prints its own verdict on stdout
 * after its log lines (--check-config): pino's default writes asynchronously.
 */
export function synchronousStdout(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: true });
}

export interface LoggerOptions {
  /** More credential headers to redact by path (a configured `apiKeys.header`). */
  readonly redactHeaders?: readonly string[] | undefined;
}

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream | pino.DestinationStream, options: LoggerOptions = {}): Logger {
  const extra = (options.redactHeaders ?? []).flatMap((name) => [`headers[${JSON.stringify(name)}]`, `*.headers[${JSON.stringify(name)}]`]);
  return pino(
    {
      level,
      base: { service: 'authz-sidecar' },
      redact: { paths: [...new Set([...REDACT_PATHS, ...extra])], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
