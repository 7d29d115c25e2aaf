/** `authzctl apikey remove`: take an entry out of an API key set file. */
import { readApiKeyFile, writeApiKeyFile } from '../api-key-file.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';

const help = `Usage: authzctl apikey remove --file FILE --id ID

Removes the entry with that id from an API key set file (atomically: write aside,
then rename). Sidecars reading the file refuse the key within watch.intervalMs; for
apiKeys.keys.nats, publish the file again (authzctl publish apikeys FILE --name NAME).

To refuse a leaked key on every sidecar at once, whatever the key source, also
revoke its id: authzctl revoke --jti ID --until … (an API key's id is its jti).

Options:
  --file FILE   the API key set file
  --id ID       the entry's id (authzctl apikey list FILE shows them)
  -h, --help    show this help`;

const OPTIONS = { file: { type: 'string' }, id: { type: 'string' } } as const;

const command: Command = {
  name: 'apikey remove',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.file === undefined) throw new UsageError('--file FILE is required (the API key set file)');
    if (values.id === undefined) throw new UsageError('--id ID is required (authzctl apikey list FILE shows the ids)');
    const current = readApiKeyFile(values.file);
    const removed = current.set.entries().find((e) => e.id === values.id);
    if (removed === undefined) throw new UsageError(`${values.file}: no entry with id "${values.id}"`);
    const rest = current.entries.filter((e) => e.id !== values.id);
    writeApiKeyFile(values.file, rest);
    output.out(`removed API key ${removed.id} (${removed.subject}) from ${values.file}; ${rest.length} left`);
    return EXIT.OK;
  },
};

export default command;
