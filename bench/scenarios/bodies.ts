/** The two request bodies the h2load scenarios send, written once per scenario into the work dir. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALLOWED_BY_RULE, CREDENTIALS_MISSING, type Expectation } from '../checks.js';
import { checkRequestBody } from '../request.js';
import { minterFor } from '../../testkit/tokens.js';
import type { Context } from './context.js';

export interface Body {
  readonly what: string;
  readonly tokenBytes: number;
  readonly file: string;
  readonly bytes: Buffer;
  /** What a sidecar answers to it; comparison servers always answer OK. */
  readonly sidecar: Expectation;
}

/** A CheckRequest with a cached ES256 bearer token (allowed by rule), and one without any token (401). */
export function standardBodies(ctx: Context): { allow: Body; deny: Body } {
  const token = minterFor().mint();
  ctx.progress(`bearer token: ES256, ${token.length} bytes`);
  return {
    allow: writeBody(ctx, 'allow.bin', 'cached token', checkRequestBody({ token }), ALLOWED_BY_RULE, token.length),
    deny: writeBody(ctx, 'no-token.bin', 'no token', checkRequestBody({}), CREDENTIALS_MISSING, 0),
  };
}

/** The allowed request as a gateway's route sends it: the same, naming its service (orders) in a context extension. */
export function gatewayBody(ctx: Context): Body {
  const token = minterFor().mint();
  return writeBody(
    ctx,
    'gateway-allow.bin',
    'cached token, gateway route',
    checkRequestBody({ token, contextExtensions: { service: 'orders' } }),
    ALLOWED_BY_RULE,
    token.length,
  );
}

function writeBody(ctx: Context, name: string, what: string, bytes: Buffer, sidecar: Expectation, tokenBytes: number): Body {
  const file = join(ctx.workDir, name);
  writeFileSync(file, bytes);
  return { what, tokenBytes, file, bytes, sidecar };
}
