/**
 * `authzctl publish policy|keys|apikeys`: validate a policy (enforced or shadow), JWKS or API key set locally, sign
 * it as the next revision of its KV key and write it with compare-and-set. Also home of the
 * read-sign-write flow that rotate, revoke, shadow clear and policy promote share
 * (publishDocument).
 */
import { readFileSync } from 'node:fs';
import { parseYamlOrJson, DocumentError } from '../../shared/index.js';
import { ControlBucket, latest, storedValues, updateKey } from '../../control/nats.js';
import {
  apiKeysTarget,
  decodeUnverified,
  issuerKeysTarget,
  kvKeyFor,
  policyTarget,
  shadowTarget,
  signDocument,
  trustDomainKeysTarget,
  verifyDocument,
  type ControlDocument,
  type ControlSigningKey,
  type DocumentKind,
  type SignerSet,
} from '../../control/index.js';
import { parseApiKeys, parseJwks } from '../../keys/index.js';
import { compilePolicy, parsePolicy, validatePolicyDocument, type PolicyDocument } from '../../policy/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, publishingSigners, requireSigningKey, withBucket } from '../control-options.js';

const help = `Usage: authzctl publish policy FILE --service NAME [--shadow] [options]
       authzctl publish keys FILE (--issuer NAME | --trust-domain DOMAIN) [options]
       authzctl publish apikeys FILE --name NAME [options]

Validates the file locally first (nothing is published when it is invalid), then
signs it with the control-plane key as the next revision of its KV key
(policy.<service>, shadow.<service>, keys.issuer.<name>, keys.trust-domain.<domain>,
apikeys.<name>)
and writes it only if nobody published in between (re-reading and re-signing up to
3 times).

With --shadow the policy is published as the service's shadow policy
(shadow.<service>), validated exactly as an enforced one: sidecars evaluate it beside
the enforced policy on every Check and count where the two disagree, but never
answer with it. See "authzctl shadow report", "authzctl shadow clear" and
"authzctl policy promote".

Options:
  --service NAME        policy: the service; must equal the policy's metadata.service
  --shadow              policy: publish as shadow.<service> instead of policy.<service>
  --issuer NAME         keys: the issuer's short name (its config issuers[].name)
  --trust-domain D      keys: the service-token trust domain
  --name NAME           apikeys: the API key set (its config apiKeys.name, default
                        the sidecar's service); FILE as authzctl apikey create writes it
  -h, --help            show this help

${CONTROL_HELP}`;

const OPTIONS = {
  ...CONTROL_OPTIONS,
  service: { type: 'string' },
  issuer: { type: 'string' },
  'trust-domain': { type: 'string' },
  name: { type: 'string' },
  shadow: { type: 'boolean', default: false },
} as const;

export interface PublishContext {
  readonly bucket: ControlBucket;
  readonly signingKey: ControlSigningKey;
  /** When set, the current document must verify; else it is only decoded for its revision and body. */
  readonly signers: SignerSet | null;
}

/** The document a key's newest usable entry holds (verified when signers are given), or null. */
export async function currentDocument(
  bucket: ControlBucket,
  kind: DocumentKind,
  target: string,
  signers: SignerSet | null,
  jws?: string | null,
): Promise<ControlDocument | null> {
  const key = kvKeyFor(kind, target);
  const read = async (value: string) => (signers === null ? decodeUnverified(value).document : await verifyDocument(value, signers, { kind, target }));
  const newest = jws === undefined ? ((await latest(bucket, key))?.jws ?? null) : jws;
  if (newest === null) return null;
  // Entries sidecars would refuse do not count, and a replayed old signed entry can follow
  // newer ones: the current document is the highest revision that reads, wherever it is.
  let best: ControlDocument | null = null;
  let firstError: unknown;
  for (const value of [newest, ...(await storedValues(bucket, key))]) {
    try {
      const doc = await read(value);
      if (best === null || doc.revision > best.revision) best = doc;
    } catch (error) {
      firstError ??= error;
    }
  }
  if (best !== null) return best;
  throw new UsageError(
    `${key}: no document in the bucket ${signers === null ? 'decodes' : 'verifies'} (${(firstError as Error).message}); cannot tell the next revision`,
  );
}

/**
 * Signs `makeBody(current)` as revision current+1 and writes it with compare-and-set; a
 * concurrent publish makes it read and rebuild from the newer document.
 */
export async function publishDocument(
  ctx: PublishContext,
  kind: DocumentKind,
  target: string,
  makeBody: (current: ControlDocument | null) => unknown,
): Promise<{ key: string; revision: number; kvRevision: number; document: ControlDocument }> {
  const key = kvKeyFor(kind, target);
  let document!: ControlDocument;
  const { kvRevision } = await updateKey(ctx.bucket, key, async (entry) => {
    const current = entry === null ? null : await currentDocument(ctx.bucket, kind, target, ctx.signers, entry.jws);
    const body = await makeBody(current);
    document = { kind, target, revision: (current?.revision ?? 0) + 1, issuedAt: Math.floor(Date.now() / 1000), body };
    return signDocument(document, ctx.signingKey);
  });
  return { key, revision: document.revision, kvRevision, document };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`}`);
  }
}

/** A policy file → its body, validated and compiled exactly as the sidecar will. */
export function policyBody(file: string, service: string): unknown {
  const text = readText(file);
  checkPolicy(parsePolicy(text, file), service, file);
  return parseYamlOrJson(text, file);
}

/**
 * A policy document's body already in the bucket (a shadow being promoted) → the same body,
 * validated and compiled as policyBody does a file's; `where` names it in errors.
 */
export function policyBodyOf(body: unknown, where: string, service: string): unknown {
  checkPolicy(validatePolicyDocument(body, where), service, where);
  return body;
}

/** The service must be --service's, and the policy must compile. */
function checkPolicy(doc: PolicyDocument, service: string, where: string): void {
  if (doc.metadata.service !== service) throw new DocumentError(where, 'metadata.service', `is "${doc.metadata.service}" but --service is "${service}"`);
  compilePolicy(doc, { revision: 'publish', file: where });
}

/** A JWKS file → its body, refused when the sidecar would refuse it (private keys, weak keys, ...). */
export async function keysBody(file: string): Promise<unknown> {
  const text = readText(file);
  try {
    await parseJwks(text);
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  return JSON.parse(text);
}

/** An API key set file → its body, refused when the sidecar would refuse it (a stored key, a bad hash, an id twice). */
export function apiKeysBody(file: string): unknown {
  const text = readText(file);
  try {
    parseApiKeys(text);
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  return JSON.parse(text);
}

/** `--issuer` xor `--trust-domain` → the keys target. */
export function keysTarget(values: { issuer?: string; 'trust-domain'?: string }): string {
  const { issuer, 'trust-domain': domain } = values;
  if ((issuer === undefined) === (domain === undefined)) throw new UsageError('give exactly one of --issuer NAME, --trust-domain DOMAIN');
  return asUsage(
    () => (issuer !== undefined ? issuerKeysTarget(issuer) : trustDomainKeysTarget(domain!)),
    issuer !== undefined ? '--issuer' : '--trust-domain',
  );
}

/** Runs a target constructor, its TypeError becoming a UsageError naming the option. */
export function asUsage<T>(fn: () => T, option: string): T {
  try {
    return fn();
  } catch (error) {
    throw new UsageError(`${option}: ${(error as Error).message}`);
  }
}

const command: Command = {
  name: 'publish',
  help,
  async run(argv, output) {
    const { values, positionals } = parseOptions(argv, OPTIONS, true);
    const [what, file, ...rest] = positionals;
    if (what !== 'policy' && what !== 'keys' && what !== 'apikeys')
      throw new UsageError('expected "publish policy FILE", "publish keys FILE" or "publish apikeys FILE" (see --help)');
    if (values.name !== undefined && what !== 'apikeys') throw new UsageError(`--name applies to publish apikeys, not ${what}`);
    if (file === undefined || rest.length > 0) throw new UsageError(`expected one FILE after "publish ${what}"`);
    const settings = controlSettings(values);

    let kind: DocumentKind;
    let target: string;
    let body: unknown;
    if (what === 'policy') {
      if (values.service === undefined) throw new UsageError('--service NAME is required for publish policy');
      if (values.issuer !== undefined || values['trust-domain'] !== undefined)
        throw new UsageError('--issuer/--trust-domain apply to publish keys, not policy');
      kind = values.shadow ? 'shadow' : 'policy';
      target = asUsage(() => (values.shadow ? shadowTarget : policyTarget)(values.service!), '--service');
      body = policyBody(file, values.service);
    } else if (what === 'apikeys') {
      if (values.service !== undefined || values.shadow || values.issuer !== undefined || values['trust-domain'] !== undefined)
        throw new UsageError('publish apikeys takes --name NAME, not --service, --shadow, --issuer or --trust-domain');
      if (values.name === undefined) throw new UsageError("--name NAME is required for publish apikeys (the sidecars' apiKeys.name, default their service)");
      kind = 'apikeys';
      target = asUsage(() => apiKeysTarget(values.name!), '--name');
      body = apiKeysBody(file);
    } else {
      if (values.service !== undefined || values.shadow) throw new UsageError('--service and --shadow apply to publish policy, not keys');
      kind = 'keys';
      target = keysTarget(values);
      body = await keysBody(file);
    }
    const signingKey = await requireSigningKey(settings);
    const signers = await publishingSigners(settings, signingKey);

    const result = await withBucket(settings, true, (bucket) => publishDocument({ bucket, signingKey, signers }, kind, target, () => body));
    output.out(`published ${result.key} revision ${result.revision}`);
    return EXIT.OK;
  },
};

export default command;
