/** `authzctl history KEY`: what the bucket still holds for one KV key, newest last. */
import type { KvRecord } from '../../control/nats.js';
import { parseKvKey, type KvTarget, decodeUnverified, verifyDocument, type SignerSet } from '../../control/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, optionalSigners, withBucket } from '../control-options.js';

const help = `Usage: authzctl history KEY [--signers FILE ...] [--json]

Lists the bucket's history for one KV key (policy.<service>, shadow.<service>,
keys.issuer.<name>, keys.trust-domain.<domain>, revocations): KV revision, operation,
time, the signed document revision, kind/target, signer kid, and whether the
signature verifies against the --signers given ("unverified" without --signers).

Options:
  --json         print the rows as JSON
  -h, --help     show this help

${CONTROL_HELP}`;

const OPTIONS = { ...CONTROL_OPTIONS, json: { type: 'boolean', default: false } } as const;

export interface HistoryRow {
  readonly kvRevision: number;
  readonly operation: string;
  readonly time: string;
  readonly revision: number | null;
  readonly kind: string | null;
  readonly target: string | null;
  readonly kid: string | null;
  /** "verified", "unverified", or the refusal code (document_signature_invalid, ...). */
  readonly signature: string;
}

/** One entry → one row; a value that does not even decode shows its error code. */
export async function historyRow(entry: KvRecord, expected: KvTarget, signers: SignerSet | null): Promise<HistoryRow> {
  const base = { kvRevision: entry.revision, operation: entry.operation, time: entry.time.toISOString() };
  if (entry.operation !== 'PUT') return { ...base, revision: null, kind: null, target: null, kid: null, signature: '-' };
  const jws = Buffer.from(entry.value).toString('utf8');
  let decoded;
  try {
    decoded = decodeUnverified(jws);
  } catch (error) {
    return { ...base, revision: null, kind: null, target: null, kid: null, signature: codeOf(error) };
  }
  const { document, kid } = decoded;
  let signature = 'unverified';
  if (signers !== null) signature = await verifyDocument(jws, signers, expected).then(() => 'verified', codeOf);
  return { ...base, revision: document.revision, kind: document.kind, target: document.target, kid: kid ?? null, signature };
}

function codeOf(error: unknown): string {
  return (error as { code?: unknown }).code === undefined ? 'invalid' : String((error as { code: unknown }).code);
}

export function formatHistory(rows: readonly HistoryRow[]): string {
  const header = ['KV-REV', 'OP', 'TIME', 'REVISION', 'KIND/TARGET', 'KID', 'SIGNATURE'];
  const cells = rows.map((r) => [
    String(r.kvRevision),
    r.operation,
    r.time,
    r.revision === null ? '-' : String(r.revision),
    r.kind === null ? '-' : `${r.kind}/${r.target}`,
    r.kid ?? '-',
    r.signature,
  ]);
  return table([header, ...cells]);
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

const command: Command = {
  name: 'history',
  help,
  async run(argv, output) {
    const { values, positionals } = parseOptions(argv, OPTIONS, true);
    if (positionals.length !== 1) throw new UsageError(`expected one KEY, got ${positionals.length}`);
    const [key] = positionals;
    const expected = parseKvKey(key);
    if (expected === null)
      throw new UsageError(
        `"${key}" is not a control-plane key (policy.<service>, shadow.<service>, keys.issuer.<name>, keys.trust-domain.<domain>, revocations)`,
      );
    const settings = controlSettings(values);
    const signers = await optionalSigners(settings);
    const rows = await withBucket(settings, false, async (bucket) =>
      Promise.all((await bucket.history(key)).map((entry) => historyRow(entry, expected, signers))),
    );
    if (values.json) output.out(JSON.stringify(rows, null, 2));
    else output.out(rows.length === 0 ? `no history for ${key}` : formatHistory(rows));
    return EXIT.OK;
  },
};

export default command;
