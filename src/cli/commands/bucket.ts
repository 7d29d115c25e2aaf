/**
 * `authzctl bucket create|info`: make the control-plane bucket deliberately, with the replica
 * count the NATS deployment needs, and show how it is replicated and led.
 */
import { BUCKET_DEFAULTS, type BucketInfo } from '../../control/nats.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, withBucket } from '../control-options.js';
import { table } from './history.js';

const help = `Usage: authzctl bucket create --replicas N [--history N] [options]
       authzctl bucket info [--json] [options]

create: creates the control-plane bucket (a JetStream KV bucket) with N replicas:
3 on a NATS cluster (any one node may be lost), 1 on a single server. Rollup
headers are off and deletes denied, so NATS publish rights alone cannot wipe a
key's history. An existing bucket is left as it is and its settings printed.
Publishing commands create a missing bucket only on a single server, or with
their own --replicas.

info: replicas (leader, and whether each follower is current), history, and
whether replicas answer direct reads.

Options:
  --history N    revisions kept per key, 2 to 64 (default ${BUCKET_DEFAULTS.history})
  --json         info: print as JSON
  -h, --help     show this help

${CONTROL_HELP}`;

const OPTIONS = { ...CONTROL_OPTIONS, history: { type: 'string' }, json: { type: 'boolean', default: false } } as const;

export function formatBucket(info: BucketInfo): string {
  const peers = info.peers.map((p) => `${p.name} (${p.offline ? 'OFFLINE' : p.current ? 'current' : 'BEHIND'})`).join(', ') || '-';
  return table([
    ['bucket', info.name],
    ['replicas', `${info.replicas}${info.replicas < 3 ? '  (a single node holds it: use 3 on a cluster)' : ''}`],
    ['leader', info.leader ?? 'NONE'],
    ['followers', peers],
    ['history', String(info.history)],
    ['direct reads', info.direct ? 'yes' : 'no (reads need the leader)'],
    ['rollups', info.rollups ? "ALLOWED (publish rights can wipe a key's history)" : 'refused'],
    ['values', String(info.values)],
  ]);
}

const command: Command = {
  name: 'bucket',
  help,
  async run(argv, output) {
    const { values, positionals } = parseOptions(argv, OPTIONS, true);
    const [action, ...rest] = positionals;
    if ((action !== 'create' && action !== 'info') || rest.length > 0) throw new UsageError('expected "bucket create" or "bucket info" (see --help)');
    const settings = controlSettings(values);
    if (action === 'info') {
      if (values.history !== undefined || settings.replicas !== undefined) throw new UsageError('--history and --replicas apply to bucket create');
      const info = await withBucket(settings, false, (bucket) => bucket.info());
      output.out(values.json ? JSON.stringify(info, null, 2) : formatBucket(info));
      return EXIT.OK;
    }
    if (settings.replicas === undefined) throw new UsageError('--replicas N is required: 3 on a NATS cluster, 1 on a single server');
    const history = values.history === undefined ? undefined : Number(values.history);
    if (history !== undefined && !(/^\d+$/.test(values.history!) && history >= 2 && history <= 64))
      throw new UsageError(`--history: "${values.history}" must be a whole number from 2 to 64`);
    const info = await withBucket(settings, true, (bucket) => bucket.info(), history);
    output.out(formatBucket(info));
    return EXIT.OK;
  },
};

export default command;
