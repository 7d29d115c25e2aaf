/**
 * `authzctl policy promote`: make a service's shadow policy its enforced policy, in two signed
 * steps: the shadow's body as the next policy revision, then the shadow cleared. Two keys
 * cannot change atomically; each step says what the bucket holds if the next one fails.
 */
import { kvKeyFor, policyTarget } from '../../control/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, publishingSigners, requireSigningKey, withBucket } from '../control-options.js';
import { asUsage, currentDocument, policyBodyOf, publishDocument } from './publish.js';
import { clearShadow, noShadowLine, type Cleared } from './shadow-clear.js';

const help = `Usage: authzctl policy promote --service NAME [options]

Reads the service's current shadow policy (shadow.<service>; it must verify against
the signing key or --signers), validates and compiles it exactly as "publish policy"
does a file (its metadata.service must be NAME), publishes it as the next revision
of policy.<service>, then clears the shadow (the next revision of shadow.<service>,
body null). Refused, publishing nothing, when there is no shadow.

The two keys change one after the other. Between the steps sidecars enforce the
promoted policy and still evaluate it as the shadow, which then agrees with it. If
clearing fails, the error says so; "authzctl shadow clear" finishes it. A shadow
published by someone else between the steps is not cleared (exit 1).

Options:
  --service NAME    the service
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = { ...CONTROL_OPTIONS, service: { type: 'string' } } as const;

const command: Command = {
  name: 'policy promote',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.service === undefined) throw new UsageError('--service NAME is required');
    const service = asUsage(() => policyTarget(values.service!), '--service');
    const settings = controlSettings(values);
    const signingKey = await requireSigningKey(settings);
    const signers = await publishingSigners(settings, signingKey);
    const shadowKey = kvKeyFor('shadow', service);

    return withBucket(settings, false, async (bucket) => {
      const ctx = { bucket, signingKey, signers };
      const shadow = await currentDocument(bucket, 'shadow', service, signers);
      if (shadow === null || shadow.body === null) throw new UsageError(`nothing to promote: ${noShadowLine(service, shadow)}`);
      const promoted = `${shadowKey} revision ${shadow.revision}`;
      const body = policyBodyOf(shadow.body, promoted, service);

      const policy = await publishDocument(ctx, 'policy', service, () => body);
      output.out(`published ${policy.key} revision ${policy.revision} (${promoted}, promoted)`);

      let cleared: Cleared;
      try {
        cleared = await clearShadow(ctx, service, shadow.revision);
      } catch (error) {
        throw new Error(
          `${policy.key} revision ${policy.revision} is published, but clearing the shadow failed (${(error as Error).message}): ` +
            `${shadowKey} still holds revision ${shadow.revision}, the promoted policy, unless that write landed after all ` +
            `(see "authzctl history ${shadowKey}"); run "authzctl shadow clear --service ${service}" to finish`,
          { cause: error },
        );
      }
      if (cleared.published) {
        output.out(`published ${cleared.key} revision ${cleared.revision} (clears the shadow)`);
        return EXIT.OK;
      }
      const now = cleared.current;
      if (now === null || now.body === null) {
        output.out(`${shadowKey} was cleared meanwhile${now === null ? '' : ` (revision ${now.revision})`}`);
        return EXIT.OK;
      }
      output.err(
        `authzctl: ${shadowKey} was not cleared: revision ${now.revision} was published after revision ${shadow.revision} was read, ` +
          `and stays the shadow ("authzctl shadow clear --service ${service}" ends it)`,
      );
      return EXIT.DENIED_OR_FAILED;
    });
  },
};

export default command;
