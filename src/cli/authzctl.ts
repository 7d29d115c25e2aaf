#!/usr/bin/env node
/**
 * authzctl: the platform and developer CLI. This file only dispatches: each command is
 * one module under commands/, loaded on demand so `token mint` does not pay for gRPC.
 */
import { packageVersion } from '../shared/index.js';
import { EXIT, UsageError, processOutput, type Command, type Output } from './command.js';

interface Entry {
  readonly words: readonly string[];
  readonly summary: string;
  readonly load: () => Promise<{ default: Command }>;
}

// The summaries live here, not in the modules, so the top-level usage loads none of them.
const COMMANDS: readonly Entry[] = [
  { words: ['token', 'mint'], summary: 'sign a development JWT with a local private JWK', load: () => import('./commands/token-mint.js') },
  { words: ['check'], summary: 'send one Envoy-style CheckRequest to a sidecar and show the decision', load: () => import('./commands/check.js') },
  { words: ['policy', 'test'], summary: 'evaluate example requests against a policy file offline', load: () => import('./commands/policy-test.js') },
  {
    words: ['policy', 'replay'],
    summary: 'decide recorded Checks under the current and a new policy, and show where they differ',
    load: () => import('./commands/policy-replay.js'),
  },
  {
    words: ['policy', 'promote'],
    summary: "publish a service's shadow policy as its enforced policy, then clear the shadow",
    load: () => import('./commands/policy-promote.js'),
  },
  {
    words: ['policy', 'unused'],
    summary: 'list the ALLOW rules, role grants and scopes no sidecar of a service has used',
    load: () => import('./commands/policy-unused.js'),
  },
  {
    words: ['apikey', 'create'],
    summary: 'make an API key: print it once, store only its hash in a key set file',
    load: () => import('./commands/apikey-create.js'),
  },
  {
    words: ['apikey', 'list'],
    summary: 'list the entries of an API key set file (ids, subjects; no secrets)',
    load: () => import('./commands/apikey-list.js'),
  },
  { words: ['apikey', 'remove'], summary: 'remove an entry from an API key set file', load: () => import('./commands/apikey-remove.js') },
  { words: ['keygen'], summary: 'generate a signing key pair (control-plane or issuer) as JWK files', load: () => import('./commands/keygen.js') },
  {
    words: ['publish'],
    summary: 'sign and publish a policy (or shadow policy), key set or API key set to the control-plane bucket',
    load: () => import('./commands/publish.js'),
  },
  {
    words: ['shadow', 'report'],
    summary: "compare a service's shadow policy with the enforced one on its sidecars' real traffic",
    load: () => import('./commands/shadow-report.js'),
  },
  { words: ['shadow', 'clear'], summary: "end a service's shadow policy (publishes a signed clear)", load: () => import('./commands/shadow-clear.js') },
  { words: ['rotate'], summary: "add a new key to an issuer's published key set, or retire an old one", load: () => import('./commands/rotate.js') },
  { words: ['revoke'], summary: 'revoke a token id or subject until a time, or list revocations', load: () => import('./commands/revoke.js') },
  { words: ['history'], summary: "list the bucket's signed revisions of one KV key", load: () => import('./commands/history.js') },
  {
    words: ['bucket'],
    summary: 'create the control-plane bucket with its replica count, or show how it is replicated',
    load: () => import('./commands/bucket.js'),
  },
  { words: ['status'], summary: 'show which sidecars have converged on which revisions', load: () => import('./commands/status.js') },
];

function usage(entries: readonly Entry[] = COMMANDS): string {
  const width = Math.max(...entries.map((e) => e.words.join(' ').length));
  const lines = entries.map((e) => `  ${e.words.join(' ').padEnd(width)}  ${e.summary}`);
  return [
    'Usage: authzctl COMMAND [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run "authzctl COMMAND --help" for the options of a command, "authzctl --version" for the version.',
  ].join('\n');
}

function find(argv: readonly string[]): Entry | undefined {
  return COMMANDS.find((e) => e.words.every((w, i) => argv[i] === w));
}

/** Runs one invocation; resolves to the exit code. Every failure is one line on stderr. */
async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const first = argv[0];
  if (first === '--version' || first === 'version') {
    output.out(`authzctl ${packageVersion()}`);
    return EXIT.OK;
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    if (first === undefined) output.err(usage());
    else output.out(usage());
    return first === undefined ? EXIT.ERROR : EXIT.OK;
  }
  const entry = find(argv);
  try {
    if (entry === undefined) {
      const group = COMMANDS.filter((e) => e.words.length > 1 && e.words[0] === first);
      if (group.length > 0 && (argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h')) {
        if (argv[1] === undefined) output.err(usage(group));
        else output.out(usage(group));
        return argv[1] === undefined ? EXIT.ERROR : EXIT.OK;
      }
      throw new UsageError(`unknown command "${argv.slice(0, 2).join(' ')}" (run "authzctl --help")`);
    }
    const command = (await entry.load()).default;
    const args = argv.slice(entry.words.length);
    // Every command's --help is answered here, before its own option parsing.
    if (args.includes('--help') || args.includes('-h')) {
      output.out(command.help);
      return EXIT.OK;
    }
    return await command.run(args, output);
  } catch (error) {
    output.err(`authzctl: ${describe(error)}`);
    return EXIT.ERROR;
  }
}

/** One line, never a stack: the message only, whatever was thrown. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim() || 'failed';
}

// Exit through exitCode, not process.exit(), so buffered stdout is flushed first. A handle a
// library leaves open (a socket to a frozen NATS server, say) must not keep the CLI alive: the
// backstop, unreferenced, fires only if something else still holds the process.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1500).unref();
});
