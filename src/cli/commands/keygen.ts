/** `authzctl keygen`: make a signing key pair (control-plane or token issuer) as JWK files. */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { EXIT, UsageError, parseOptions, type Command } from '../command.js';

const help = `Usage: authzctl keygen --out FILE [--alg EdDSA|ES256] [--kid KID] [--force]

Generates a signing key pair: the private JWK goes to FILE (mode 0600), the public
JWK next to it with ".pub" inserted (cp.jwk.json -> cp.pub.jwk.json,
cp.private.jwk.json -> cp.pub.jwk.json). Both paths are printed.

Use it for the control-plane key (pin the .pub file in the sidecars' nats.signers,
sign with the private one: --signing-key / AUTHZ_SIGNING_KEY), or for a token
issuer's key (publish a JWKS holding the .pub key, mint with "token mint --key").

Options:
  --out FILE     where to write the private JWK (required)
  --alg ALG      EdDSA (Ed25519, default) or ES256 (P-256)
  --kid KID      key id (default: <file name>-<yyyymmddHHMMSS>, UTC)
  --force        overwrite existing files
  -h, --help     show this help`;

const OPTIONS = {
  out: { type: 'string' },
  alg: { type: 'string', default: 'EdDSA' },
  kid: { type: 'string' },
  force: { type: 'boolean', default: false },
} as const;

export type KeyAlgorithm = 'EdDSA' | 'ES256';

export interface KeyPair {
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export function parseKeyAlgorithm(text: string, option = '--alg'): KeyAlgorithm {
  if (text === 'EdDSA' || text === 'ES256') return text;
  throw new UsageError(`${option}: "${text}" is not supported (use EdDSA or ES256)`);
}

/** `yyyymmddHHMMSS` in UTC, for default key ids. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** A fresh key pair; both JWKs carry kid, alg and use "sig". */
export async function generateJwkPair(alg: KeyAlgorithm, kid: string): Promise<KeyPair> {
  if (!/^[\x21-\x7e]{1,256}$/.test(kid)) throw new UsageError(`--kid: "${kid}" must be 1 to 256 printable ASCII characters without spaces`);
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const meta = { kid, alg, use: 'sig' };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...(await exportJWK(publicKey)), ...meta } };
}

/** The public key's file name: `.private.` becomes `.pub.`, else `.pub` goes before the first extension. */
export function publicPathFor(file: string): string {
  const name = basename(file);
  const dot = name.indexOf('.', 1);
  const pub = name.includes('.private.') ? name.replace('.private.', '.pub.') : dot < 0 ? `${name}.pub` : `${name.slice(0, dot)}.pub${name.slice(dot)}`;
  return join(dirname(file), pub);
}

/** Writes a JWK file; refuses to replace one unless `force`. Private keys are 0600 whatever the umask. */
export function writeJwkFile(file: string, jwk: JWK, options: { private: boolean; force: boolean }): void {
  const mode = options.private ? 0o600 : 0o644;
  try {
    writeFileSync(file, JSON.stringify(jwk, null, 2) + '\n', { mode, flag: options.force ? 'w' : 'wx' });
    chmodSync(file, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${file}: already exists (use --force to overwrite)`);
    throw new UsageError(`${file}: cannot write (${code ?? 'error'})`);
  }
}

/** The stem of a key file name, for a default kid: `keys/cp.jwk.json` → `cp`. */
function stem(file: string): string {
  return basename(file).split('.')[0] || 'key';
}

const command: Command = {
  name: 'keygen',
  help,
  async run(argv, output) {
    const { values } = parseOptions(argv, OPTIONS);
    if (values.out === undefined) throw new UsageError('--out FILE is required (where to write the private JWK)');
    const alg = parseKeyAlgorithm(values.alg);
    const pubFile = publicPathFor(values.out);
    if (!values.force) {
      for (const file of [values.out, pubFile]) if (existsSync(file)) throw new UsageError(`${file}: already exists (use --force to overwrite)`);
    }
    const { privateJwk, publicJwk } = await generateJwkPair(alg, values.kid ?? `${stem(values.out)}-${timestamp(new Date())}`);
    writeJwkFile(values.out, privateJwk, { private: true, force: values.force });
    writeJwkFile(pubFile, publicJwk, { private: false, force: values.force });
    output.out(`private key (${alg}, kid ${publicJwk.kid}): ${values.out}\npublic key: ${pubFile}`);
    return EXIT.OK;
  },
};

export default command;
