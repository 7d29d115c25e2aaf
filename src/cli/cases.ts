/**
 * # Policy test cases file (`authzctl policy test POLICY --cases FILE`)
 *
 * YAML or JSON. Every object is strict: an unknown field is an error naming it.
 *
 * ```yaml
 * cases:
 *   - name: customer reads orders            # required, unique
 *     request:                               # required
 *       method: GET                          # default GET
 *       path: /api/orders/7?x=1              # required; as on the request line
 *       host: orders.example.test            # default "localhost"
 *       headers: { x-tenant-id: acme }       # optional; names are lower-cased
 *       context: { route: orders }           # optional context_extensions
 *     auth:                                  # omit for an anonymous caller
 *       issuer: https://idp.example.test     # the user token's iss; required with subject/audience/claims
 *       subject: alice                       # sub
 *       audience: orders                     # aud (string or list), optional
 *       claims: { tenant: acme, roles: [customer], scope: "orders:read" }
 *       principal: spiffe://cluster.local/ns/shop/sa/checkout   # mTLS peer (source.principal)
 *       serviceToken:                        # a verified service token, optional
 *         subject: spiffe://cluster.local/ns/shop/sa/checkout   # becomes the principal
 *         claims: { roles: [checkout] }
 *     expect:                                # required
 *       decision: allow                      # allow | deny
 *       rule: read-orders                    # optional; null = decided by defaultAction
 *       status: 403                          # deny only: 400, 401, 403 or 431
 *       reason: missing_scope                # optional stable reason code
 * ```
 *
 * Tokens are taken as already verified (no signatures, expiry not checked): the case says
 * who the caller is, the test checks what the policy does with them. Scopes come from the
 * `scope` (space-separated) or `scp` claim, roles from the policy's `rolesFrom` claim.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DECISION_REASONS } from '../policy/index.js';
import { REQUEST_ERROR_STATUS } from '../request/index.js';
import { DocumentError, parseYamlOrJson, validateDocument } from '../shared/index.js';

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const claims = z.record(z.string(), z.unknown());

const requestSchema = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'must be an HTTP method like GET')
    .default('GET'),
  path: z.string().min(1),
  host: z.string().min(1).optional(),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/), scalar, {
      error: (issue) => (issue.code === 'invalid_key' ? 'is not a valid header name' : undefined),
    })
    .optional(),
  context: z.record(z.string(), scalar).optional(),
});

const serviceTokenSchema = z.strictObject({
  subject: z.string().startsWith('spiffe://', 'must be a SPIFFE id (spiffe://...)'),
  issuer: z.string().min(1).optional(),
  claims: claims.optional(),
});

const authSchema = z
  .strictObject({
    issuer: z.string().min(1).optional(),
    subject: z.string().optional(),
    audience: z.union([z.string(), z.array(z.string())]).optional(),
    claims: claims.optional(),
    principal: z.string().min(1).optional(),
    serviceToken: serviceTokenSchema.optional(),
  })
  .refine((a) => a.issuer !== undefined || (a.subject === undefined && a.audience === undefined && a.claims === undefined), {
    path: ['issuer'],
    error: 'required when subject, audience or claims are given (they describe a user token)',
  });

export const DENY_STATUSES = [400, 401, 403, 431] as const;

/**
 * The reasons a case can come out with: the policy's, `credentials_missing`, and the request
 * checks'. Token errors cannot happen here: a case describes credentials already verified.
 */
export const CASE_REASONS: readonly string[] = Object.freeze([...DECISION_REASONS, 'credentials_missing', ...Object.keys(REQUEST_ERROR_STATUS)]);

/** Why `reason` cannot be a case's expected reason, with the nearest valid one; null when it can be. */
export function caseReasonError(reason: string): string | null {
  if (CASE_REASONS.includes(reason)) return null;
  const nearest = [...CASE_REASONS].sort((a, b) => editDistance(reason, a) - editDistance(reason, b))[0];
  const hint = editDistance(reason, nearest) <= 3 ? `did you mean "${nearest}"? ` : '';
  return `"${reason}" is not a reason a case can have (${hint}one of ${CASE_REASONS.join(', ')})`;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

const expectSchema = z
  .strictObject({
    decision: z.enum(['allow', 'deny']),
    status: z.literal(DENY_STATUSES, { error: `must be one of ${DENY_STATUSES.join(', ')}` }).optional(),
    reason: z
      .string()
      .min(1)
      .superRefine((reason, ctx) => {
        const error = caseReasonError(reason);
        if (error !== null) ctx.addIssue({ code: 'custom', message: error });
      })
      .optional(),
    rule: z.string().min(1).nullable().optional(),
  })
  .refine((e) => e.decision === 'deny' || e.status === undefined, { path: ['status'], error: 'only applies to decision: deny' });

const caseSchema = z.strictObject({
  name: z.string().min(1),
  request: requestSchema,
  auth: authSchema.optional(),
  expect: expectSchema,
});

export const casesFileSchema = z.strictObject({ cases: z.array(caseSchema).min(1, 'must list at least one case') }).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.cases.forEach((c, i) => {
    if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: ['cases', i, 'name'], message: `duplicate case name "${c.name}"` });
    seen.add(c.name);
  });
});

export type CasesFile = z.output<typeof casesFileSchema>;
export type PolicyCase = CasesFile['cases'][number];
export type CaseAuth = NonNullable<PolicyCase['auth']>;
export type CaseExpectation = PolicyCase['expect'];

/** YAML (a superset of JSON) → validated cases. Errors are DocumentErrors naming `file` and the field or line. */
export function parseCasesText(text: string, file: string): CasesFile {
  return parseCases(parseYamlOrJson(text, file), file);
}

/** Validates parsed data. */
export function parseCases(data: unknown, file: string): CasesFile {
  return validateDocument(casesFileSchema, data, file, 'a mapping with a "cases" list');
}

export function loadCasesFile(file: string): CasesFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DocumentError(file, '', code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`);
  }
  return parseCasesText(text, file);
}
