/**
 * `authzctl rotate`: add a new signing key to an issuer's (or trust domain's) published key
 * set before anyone signs with it, or retire an old one. The overlap is the point: sidecars
 * accept tokens from both keys until the old tokens have expired.
 */
import { unlinkSync } from 'node:fs';
import type { JWK } from 'jose';
import type { ControlDocument } from '../../control/index.js';
import { parseJwks } from '../../keys/index.js';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';
import { CONTROL_HELP, CONTROL_OPTIONS, controlSettings, publishingSigners, requireSigningKey, withBucket } from '../control-options.js';
import { generateJwkPair, parseKeyAlgorithm, timestamp, writeJwkFile } from './keygen.js';
import { keysTarget, publishDocument } from './publish.js';

const help = `Usage: authzctl rotate (--issuer NAME | --trust-domain DOMAIN) --out FILE [options]
       authzctl rotate (--issuer NAME | --trust-domain DOMAIN) --retire KID [options]

Without --retire: generates a new key pair, publishes the current key set with the
new public key added (newest last, at most --keep keys), then writes the new private
JWK to --out (mode 0600). Sign with it only once it is published, which is now.

With --retire KID: publishes the set without KID (the last key is never removed).

Options:
  --out FILE        where to write the new private JWK
  --alg ALG         ES256 (default) or EdDSA; the issuer's config must allow it
  --kid KID         the new key's id (default <name>-<yyyymmddHHMMSS>, UTC)
  --keep N          keys kept in the set, the new one included (default 2)
  --retire KID      remove this key instead of adding one
  --force           overwrite --out if it exists
  -h, --help        show this help

${CONTROL_HELP}`;

const OPTIONS = {
  ...CONTROL_OPTIONS,
  issuer: { type: 'string' },
  'trust-domain': { type: 'string' },
  out: { type: 'string' },
  alg: { type: 'string', default: 'ES256' },
  kid: { type: 'string' },
  keep: { type: 'string', default: '2' },
  retire: { type: 'string' },
  force: { type: 'boolean', default: false },
} as const;

export interface RotatedSet {
  readonly keys: readonly JWK[];
  /** kids (or positions) of the keys dropped to stay within `keep`. */
  readonly dropped: readonly string[];
}

/** The keys of a current key-set document's body (an empty list when there is none). */
export function currentKeys(doc: ControlDocument | null): JWK[] {
  if (doc === null) return [];
  const keys = (doc.body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'object' || k === null || Array.isArray(k)))
    throw new UsageError(`the current ${doc.target} document's body is not a JWKS; publish a valid set with "publish keys" first`);
  return keys as JWK[];
}

const label = (key: JWK, index: number) => key.kid ?? `#${index}`;

/** Appends `added`, then drops the oldest (first) keys until at most `keep` remain. */
export function addKey(keys: readonly JWK[], added: JWK, keep: number): RotatedSet {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new UsageError('--keep: must be a whole number of at least 1');
  if (keys.some((k) => k.kid === added.kid)) throw new UsageError(`--kid: the set already has a key with kid "${added.kid}"`);
  const all = [...keys, added];
  const cut = Math.max(0, all.length - keep);
  return { keys: all.slice(cut), dropped: all.slice(0, cut).map(label) };
}

/** The set without `kid`; refuses an unknown kid and removing the last key. */
export function removeKey(keys: readonly JWK[], kid: string): JWK[] {
  const rest = keys.filter((k) => k.kid !== kid);
  if (rest.length === keys.length) throw new UsageError(`--retire: no key with kid "${kid}" in the set (kids: ${keys.map(label).join(', ') || 'none'})`);
  if (rest.length === 0) throw new UsageError(`--retire: "${kid}" is the last key of the set; rotate a new one in first`);
  return rest;
}

/** What to do after a rotation; the old kids are the ones still published besides the new one. */
export function nextSteps(out: string, newKid: string, oldKids: readonly string[], flag: string): string {
  const retire =
    oldKids.length === 0
      ? ''
      : `\n  3. After the longest token lifetime, retire the old key${oldKids.length > 1 ? 's' : ''}:\n` +
        oldKids.map((kid) => `       authzctl rotate ${flag} --retire ${kid}`).join('\n');
  return (
    [
      'Next:',
      `  1. Wait until the sidecars report the new set (authzctl status).`,
      `  2. Start signing tokens with ${out} (kid ${newKid}); move it into your issuer and delete this copy.`,
    ].join('\n') + retire
  );
}

async function checkedBody(keys: readonly JWK[]): Promise<{ keys: JWK[] }> {
  const body = { keys: [...keys] };
  try {
    await parseJwks(JSON.stringify(body));
  } catch (error) {
    throw new UsageError(`the resulting key set would be refused: ${(error as Error).message}`);
  }
  return body;
}

const command: Command = {
  name: 'rotate',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    const target = keysTarget(values);
    const name = target.slice(target.indexOf('/') + 1);
    const flag = values.issuer !== undefined ? `--issuer ${name}` : `--trust-domain ${name}`;
    if ((values.out === undefined) === (values.retire === undefined)) throw new UsageError('give either --out FILE (add a new key) or --retire KID');
    const keep = Number(values.keep);
    if (!/^\d+$/.test(values.keep) || keep < 1) throw new UsageError(`--keep: "${values.keep}" must be a whole number of at least 1`);
    const settings = controlSettings(values);
    const signingKey = await requireSigningKey(settings);
    const signers = await publishingSigners(settings, signingKey);

    if (values.retire !== undefined) {
      const kid = values.retire;
      const result = await withBucket(settings, false, (bucket) =>
        publishDocument({ bucket, signingKey, signers }, 'keys', target, async (current) => checkedBody(removeKey(currentKeys(current), kid))),
      );
      output.out(`published ${result.key} revision ${result.revision} without kid ${kid}`);
      return EXIT.OK;
    }

    const out = values.out!;
    const alg = parseKeyAlgorithm(values.alg);
    const { privateJwk, publicJwk } = await generateJwkPair(alg, values.kid ?? `${name}-${timestamp(new Date())}`);
    // Written first so an existing file stops us before anything is published; removed again
    // if publishing fails, so no private key exists whose public half was never published.
    writeJwkFile(out, privateJwk, { private: true, force: values.force });
    let rotated!: RotatedSet;
    try {
      const result = await withBucket(settings, true, async (bucket) => {
        return publishDocument({ bucket, signingKey, signers }, 'keys', target, async (current) => {
          rotated = addKey(currentKeys(current), publicJwk, keep);
          return checkedBody(rotated.keys);
        });
      });
      const kids = rotated.keys.map(label);
      output.out(
        `published ${result.key} revision ${result.revision}: kids ${kids.join(', ')}` +
          (rotated.dropped.length ? ` (dropped ${rotated.dropped.join(', ')})` : ''),
      );
      output.out(`new private key (${alg}, kid ${publicJwk.kid}): ${out}`);
      output.out(nextSteps(out, publicJwk.kid!, kids.slice(0, -1), flag));
      return EXIT.OK;
    } catch (error) {
      try {
        unlinkSync(out);
      } catch {
        // Nothing to clean up.
      }
      throw error;
    }
  },
};

export default command;
