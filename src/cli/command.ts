/** What every authzctl subcommand module exports, and the errors they share. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes; injected so commands can be driven from tests. */
export interface Output {
  /** One line (or a block) on stdout; a newline is added. */
  out(text: string): void;
  /** One line on stderr; a newline is added. */
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
};

/** A subcommand module's default export. `run` resolves to the process exit code. */
export interface Command {
  /** Words after `authzctl`, e.g. "token mint". */
  readonly name: string;
  /** Full `--help` text. */
  readonly help: string;
  run(argv: readonly string[], output: Output): Promise<number>;
}

/** Exit codes shared by all commands. */
export const EXIT = { OK: 0, DENIED_OR_FAILED: 1, ERROR: 2 } as const;

/**
 * Bad input from the command line or a file it names (unknown option, malformed value,
 * unusable key file): bad input, not a bug. Reported as one line with exit 2, like every
 * other failure.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * `parseArgs` with strict checking, its errors turned into UsageError. `--help`/`-h` is
 * accepted by every command; the dispatcher answers it before `run` is called.
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({
      args: joinNegativeValues(argv, options),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/\s+/g, ' ').trim() : String(error);
    throw new UsageError(`${message} (see --help)`);
  }
}

/**
 * `parseArgs` refuses `--exp-in -1m` as ambiguous; a negative number can never be an
 * option, so glue it to a preceding string option as `--exp-in=-1m`.
 */
function joinNegativeValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}
