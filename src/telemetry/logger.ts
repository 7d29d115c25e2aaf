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
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-service-token"]',
  'key',
  '*.key',
  'secret',
  '*.secret',
];

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'authz-sidecar' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}

export type { Logger };
