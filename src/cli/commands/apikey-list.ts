/** `authzctl apikey list`: the entries of an API key set file, without their hashes. */
import { readApiKeyFile } from '../api-key-file.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { isoSeconds } from './apikey-create.js';

const help = `Usage: authzctl apikey list FILE [--json]

Lists the entries of an API key set file, validated as a sidecar reads it: id,
subject, roles, scopes, expiry ("expired" once past) and description. Never a
hash, and never a key: keys are not stored.

Options:
  --json       one JSON object: { "keys": [{ id, subject, roles, scopes, expiresAt,
               expired, description }] }
  -h, --help   show this help`;

const OPTIONS = { json: { type: 'boolean', default: false } } as const;

const command: Command = {
  name: 'apikey list',
  help,
  async run(argv, output) {
    const { values, positionals } = parseOptions(argv, OPTIONS, true);
    if (positionals.length !== 1) throw new UsageError('expected one FILE (see --help)');
    const now = Math.floor(Date.now() / 1000);
    const rows = readApiKeyFile(positionals[0])
      .set.entries()
      .map((e) => ({
        id: e.id,
        subject: e.subject,
        roles: e.roles,
        scopes: e.scopes,
        expiresAt: e.expiresAt === undefined ? null : isoSeconds(e.expiresAt),
        expired: e.expiresAt !== undefined && e.expiresAt <= now,
        description: e.description ?? null,
      }));
    if (values.json) {
      output.out(JSON.stringify({ keys: rows }, null, 2));
      return EXIT.OK;
    }
    if (rows.length === 0) {
      output.out('no API keys');
      return EXIT.OK;
    }
    const table = [
      ['ID', 'SUBJECT', 'ROLES', 'SCOPES', 'EXPIRES', 'DESCRIPTION'],
      ...rows.map((r) => [
        r.id,
        r.subject,
        r.roles.join(',') || '-',
        r.scopes.join(' ') || '-',
        r.expiresAt === null ? 'never' : r.expired ? `expired ${r.expiresAt}` : r.expiresAt,
        r.description ?? '-',
      ]),
    ];
    const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
    output.out(table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n'));
    return EXIT.OK;
  },
};

export default command;
