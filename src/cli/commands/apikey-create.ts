/** `authzctl apikey create`: make a new API key, print it once, and store only its hash. */
import { generateApiKey } from '../../keys/index.js';
import { readApiKeyFile, listOption, writeApiKeyFile } from '../api-key-file.js';
import { parseClaims } from '../claims.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { parseDuration } from '../values.js';

const help = `Usage: authzctl apikey create --file FILE --subject SUBJECT [options]

Generates a random API key (ak_<id>_<secret>: a 64-bit id and a 256-bit secret),
adds an entry holding only its SHA-256 hash to FILE (created when missing), and
prints the key, alone, on stdout: KEY=$(authzctl apikey create ...) works. The key
is shown this once and cannot be recovered from the file; what was created is said
on stderr.

Sidecars reading FILE (apiKeys.keys.file) pick the entry up within watch.intervalMs;
for apiKeys.keys.nats, publish the file: authzctl publish apikeys FILE --name NAME.

Options:
  --file FILE          the API key set file (JSON, { "keys": [...] })
  --subject SUBJECT    who calls with the key (request.auth.subject, x-auth-subject)
  --roles r1,r2        the caller's roles (policies' spec.roles grant permissions)
  --scopes "a b"       the caller's scopes (require.scopes), space- or comma-separated
  --claim k=v          an extra claim for CEL (request.auth.claims); repeatable; v is
                       JSON when it parses, else a string
  --expires DURATION   refuse the key after this long: 90d, 12h, 30m (default: never)
  --description TEXT   a note for people (who holds the key, a ticket)
  -h, --help           show this help`;

const OPTIONS = {
  file: { type: 'string' },
  subject: { type: 'string' },
  roles: { type: 'string' },
  scopes: { type: 'string' },
  claim: { type: 'string', multiple: true, default: [] as string[] },
  expires: { type: 'string' },
  description: { type: 'string' },
} as const;

/** Seconds to an ISO time without milliseconds, as the entries are written. */
export function isoSeconds(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const command: Command = {
  name: 'apikey create',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.file === undefined) throw new UsageError('--file FILE is required (the API key set file)');
    if (values.subject === undefined || values.subject === '') throw new UsageError('--subject SUBJECT is required');
    const now = Math.floor(Date.now() / 1000);
    let expiresAt: string | undefined;
    if (values.expires !== undefined) {
      const seconds = parseDuration(values.expires, '--expires');
      if (seconds <= 0) throw new UsageError(`--expires: "${values.expires}" must be a positive duration`);
      expiresAt = isoSeconds(now + seconds);
    }
    const current = readApiKeyFile(values.file, { missingIsEmpty: true });
    const { key, id, hash } = generateApiKey();
    const claims = parseClaims(values.claim);
    const entry = {
      id,
      hash,
      subject: values.subject,
      roles: listOption(values.roles),
      scopes: listOption(values.scopes),
      ...(Object.keys(claims).length > 0 && { claims }),
      ...(expiresAt !== undefined && { expiresAt }),
      createdAt: isoSeconds(now),
      ...(values.description !== undefined && { description: values.description }),
    };
    // Validated with the others before anything is written: a bad --claim or --scopes writes nothing.
    writeApiKeyFile(values.file, [...current.entries, entry]);
    output.out(key);
    output.err(
      `created API key ${id} for ${values.subject} in ${values.file}${expiresAt ? `, expires ${expiresAt}` : ''}: the key above is shown once; the file holds only its hash`,
    );
    return EXIT.OK;
  },
};

export default command;
