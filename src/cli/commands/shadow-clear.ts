/**
 * `authzctl shadow clear`: end a service's shadow policy. Sidecars ignore KV deletes (removing
 * state must need a signature), so "no shadow" is a signed document too: body null, as the
 * next revision of shadow.<service>.
 */
import { BucketError } from '../../control/nats.js';
import { kvKeyFor, shadowTarget, type ControlDocument } from '../../control/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, publishingSigners, requireSigningKey, withBucket } from '../control-options.js';
import { asUsage, publishDocument, type PublishContext } from './publish.js';

const help = `Usage: authzctl shadow clear --service NAME [options]

Ends the service's shadow policy: signs "no shadow" (a document whose body is null)
as the next revision of shadow.<service>; sidecars stop evaluating the shadow once
they apply it. Nothing is published when there is no shadow to clear (the key was
never written, or its current document already clears it).

Options:
  --service NAME    the service
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = { ...CONTROL_OPTIONS, service: { type: 'string' } } as const;

/** Thrown inside publishDocument's build to publish nothing; never leaves this module. */
class NothingToClear extends Error {
  constructor(readonly current: ControlDocument | null) {
    super('nothing to clear');
  }
}

/** What clearShadow did: published the clear, or found nothing to clear (or, with `only`, a revision other than the one it was told to clear). */
export type Cleared =
  | { readonly published: true; readonly key: string; readonly revision: number }
  | { readonly published: false; readonly key: string; readonly current: ControlDocument | null };

/**
 * Publishes the signed clear as the next shadow revision, unless the current shadow is already
 * none. With `only`, clears only that shadow revision: a shadow published meanwhile is left.
 */
export async function clearShadow(ctx: PublishContext, service: string, only?: number): Promise<Cleared> {
  try {
    const { key, revision } = await publishDocument(ctx, 'shadow', service, (current) => {
      if (current === null || current.body === null || (only !== undefined && current.revision !== only)) throw new NothingToClear(current);
      return null;
    });
    return { published: true, key, revision };
  } catch (error) {
    if (error instanceof NothingToClear) return { published: false, key: kvKeyFor('shadow', service), current: error.current };
    throw error;
  }
}

/** "no shadow policy for orders: shadow.orders was never published" / "… revision 4 already clears it". */
export function noShadowLine(service: string, current: ControlDocument | null): string {
  const key = kvKeyFor('shadow', service);
  return `no shadow policy for ${service}: ${key} ${current === null ? 'was never published' : `revision ${current.revision} already clears it`}`;
}

const command: Command = {
  name: 'shadow clear',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.service === undefined) throw new UsageError('--service NAME is required');
    const service = asUsage(() => shadowTarget(values.service!), '--service');
    const settings = controlSettings(values);
    const signingKey = await requireSigningKey(settings);
    const signers = await publishingSigners(settings, signingKey);
    let cleared: Cleared;
    try {
      cleared = await withBucket(settings, false, (bucket) => clearShadow({ bucket, signingKey, signers }, service));
    } catch (error) {
      if (!(error instanceof BucketError && error.code === 'bucket_not_found')) throw error;
      cleared = { published: false, key: kvKeyFor('shadow', service), current: null };
    }
    output.out(cleared.published ? `published ${cleared.key} revision ${cleared.revision} (clears the shadow)` : noShadowLine(service, cleared.current));
    return EXIT.OK;
  },
};

export default command;
