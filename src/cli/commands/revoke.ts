/** `authzctl revoke`: add a token id or subject to the signed revocation list, or list it. */
import { latest } from '../../control/nats.js';
import { REVOCATIONS_TARGET, REVOCATIONS_KEY, type ControlDocument, type RevocationEntry } from '../../control/index.js';
import { parseRevocations } from '../../keys/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, optionalSigners, publishingSigners, requireSigningKey, withBucket } from '../control-options.js';
import { currentDocument, publishDocument } from './publish.js';

const help = `Usage: authzctl revoke (--jti ID | --sub SUBJECT [--iss ISSUER]) --until WHEN [options]
       authzctl revoke --list [options]

Appends an entry to the signed "revocations" document: sidecars then refuse the
token id, or every token of the subject (of one issuer with --iss), until WHEN.
Entries whose time has passed are pruned on every publish.

Options:
  --jti ID          revoke one token by its "jti"
  --sub SUBJECT     revoke every token of a subject
  --iss ISSUER      with --sub: only that issuer's tokens (its "iss" URL)
  --until WHEN      epoch seconds, an ISO date (2025-01-31T12:00:00Z) or a duration
                    from now (90s, 15m, 1h, 7d); set it to the tokens' longest lifetime
  --list            print the entries in force and exit
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = {
  ...CONTROL_OPTIONS,
  jti: { type: 'string' },
  sub: { type: 'string' },
  iss: { type: 'string' },
  until: { type: 'string' },
  list: { type: 'boolean', default: false },
} as const;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };

/** `--until` → epoch seconds; it must lie in the future of `now` (epoch seconds). */
export function parseUntil(text: string, now: number): number {
  const trimmed = text.trim();
  let until: number;
  const duration = /^(\d+)([smhdw])$/.exec(trimmed);
  if (duration) until = now + Number(duration[1]) * UNIT_SECONDS[duration[2]];
  else if (/^\d+$/.test(trimmed)) until = Number(trimmed);
  else if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed) && !Number.isNaN(Date.parse(trimmed)))
    until = Math.floor(Date.parse(trimmed) / 1000);
  else throw new UsageError(`--until: "${text}" is not epoch seconds, an ISO date or a duration (e.g. 1h)`);
  if (!Number.isSafeInteger(until)) throw new UsageError(`--until: "${text}" is too large`);
  if (until <= now)
    throw new UsageError(`--until: "${text}" is in the past${/^\d+$/.test(trimmed) ? ' (bare numbers are epoch seconds; write a duration as 3600s)' : ''}`);
  return until;
}

/** The entry the flags describe. */
export function entryFrom(values: { jti?: string; sub?: string; iss?: string }, until: number): RevocationEntry {
  if ((values.jti === undefined) === (values.sub === undefined)) throw new UsageError('give exactly one of --jti ID, --sub SUBJECT');
  if (values.iss !== undefined && values.sub === undefined) throw new UsageError('--iss only applies with --sub');
  for (const [name, value] of Object.entries(values)) if (value === '') throw new UsageError(`--${name}: must not be empty`);
  return values.jti !== undefined
    ? { jti: values.jti, until }
    : values.iss !== undefined
      ? { sub: values.sub, iss: values.iss, until }
      : { sub: values.sub, until };
}

const sameTarget = (a: RevocationEntry, b: RevocationEntry) => a.jti === b.jti && a.sub === b.sub && a.iss === b.iss;

/**
 * Drops entries whose `until` has passed, then adds `entry`; an entry for the same jti or
 * sub/iss is replaced, keeping the later `until`.
 */
export function appendRevocation(entries: readonly RevocationEntry[], entry: RevocationEntry, now: number): { entries: RevocationEntry[]; pruned: number } {
  const live = entries.filter((e) => e.until > now);
  const existing = live.find((e) => sameTarget(e, entry));
  const others = live.filter((e) => !sameTarget(e, entry));
  return { entries: [...others, { ...entry, until: Math.max(entry.until, existing?.until ?? 0) }], pruned: entries.length - live.length };
}

/** The entries of a revocations document (validated as the sidecar would). */
export function currentEntries(doc: ControlDocument | null): RevocationEntry[] {
  if (doc === null) return [];
  try {
    parseRevocations(doc.body, doc.revision);
  } catch (error) {
    throw new UsageError(`the current revocations document is invalid (${(error as Error).message})`);
  }
  return [...(doc.body as { entries: RevocationEntry[] }).entries];
}

/** One line per entry in force at `now`. */
export function formatEntries(entries: readonly RevocationEntry[], now: number): string[] {
  const live = entries.filter((e) => e.until > now);
  if (live.length === 0) return ['no revocations in force'];
  return live.map((e) => {
    const what = e.jti !== undefined ? `jti ${e.jti}` : `sub ${e.sub} iss ${e.iss ?? '*'}`;
    return `${what}  until ${new Date(e.until * 1000).toISOString()}`;
  });
}

const command: Command = {
  name: 'revoke',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    const settings = controlSettings(values);
    const now = Math.floor(Date.now() / 1000);

    if (values.list) {
      if (values.jti !== undefined || values.sub !== undefined || values.until !== undefined) throw new UsageError('--list takes no --jti/--sub/--until');
      const signers = await optionalSigners(settings);
      const entries = await withBucket(settings, false, async (bucket) => {
        const entry = await latest(bucket, REVOCATIONS_KEY);
        return currentEntries(await currentDocument(bucket, 'revocations', REVOCATIONS_TARGET, signers, entry?.jws ?? null));
      });
      output.out(formatEntries(entries, now).join('\n'));
      return EXIT.OK;
    }

    if (values.until === undefined) throw new UsageError("--until WHEN is required (e.g. --until 1h: the tokens' longest lifetime)");
    const entry = entryFrom({ jti: values.jti, sub: values.sub, iss: values.iss }, parseUntil(values.until, now));
    const signingKey = await requireSigningKey(settings);
    const signers = await publishingSigners(settings, signingKey);
    let pruned = 0;
    let count = 0;
    const result = await withBucket(settings, true, async (bucket) => {
      return publishDocument({ bucket, signingKey, signers }, 'revocations', REVOCATIONS_TARGET, (current) => {
        const next = appendRevocation(currentEntries(current), entry, Math.floor(Date.now() / 1000));
        pruned = next.pruned;
        count = next.entries.length;
        return { entries: next.entries };
      });
    });
    output.out(`published ${result.key} revision ${result.revision}: ${count} entr${count === 1 ? 'y' : 'ies'}${pruned ? `, ${pruned} expired pruned` : ''}`);
    return EXIT.OK;
  },
};

export default command;
